"""CLIP byte-level BPE tokenizer (the algorithm of openai/CLIP SimpleTokenizer, written anew).

Exact for plain ASCII text (checked against test/fixtures/tokenizer_golden.json by
check_against_goldens.py). Non-ASCII text is approximated (no ftfy, Python `re` letter classes).
"""
import gzip
import html
import os
import re

DEFAULT_VOCAB = os.environ.get("SD_NATIVE_BPE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native",
                                                             "data", "bpe_simple_vocab_16e6.txt.gz"))
SOT, EOT = 49406, 49407


def _byte_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipTokenizer:
    PAT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
                     re.IGNORECASE)

    def __init__(self, path=DEFAULT_VOCAB):
        self.byte_enc = _byte_unicode()
        merges = gzip.open(path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(self.byte_enc.values())
        vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {"<|startoftext|>": ["<|startoftext|>"], "<|endoftext|>": ["<|endoftext|>"]}

    def _bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    @staticmethod
    def clean(text):
        text = html.unescape(html.unescape(text)).strip()
        return re.sub(r"\s+", " ", text).strip().lower()

    def bpe_ids(self, text):
        ids = []
        for tok in self.PAT.findall(self.clean(text)):
            tok = "".join(self.byte_enc[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(tok))
        return ids

    def encode_sd1(self, text, length=77):
        """SD1 / HF CLIPTokenizer layout: [SOT] ids [EOT], truncated to 77, padded with EOT (49407)."""
        ids = [SOT] + self.bpe_ids(text)[: length - 2] + [EOT]
        return ids + [EOT] * (length - len(ids))
