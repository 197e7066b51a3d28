"""Training with UsedTokenRows must give the same weights as training the full token table (run by hand:
python3 train/check_token_rows.py). Prints the largest relative difference and the step times."""
import copy
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from threads import set_threads  # noqa: E402
from tiny_config import CONFIG  # noqa: E402
from sd_modules import CLIPTextModel, UNetModel  # noqa: E402
from token_rows import UsedTokenRows  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402
from stages.unet import unet_stage_optimizer  # noqa: E402


def train(clip, unet, rows, batches):
    params, opt = unet_stage_optimizer(unet, clip, rows, 1e-3)
    times = []
    for ids, x, t, target in batches:
        t0 = time.perf_counter()
        loss = ((unet(x, t, clip(ids)) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if rows:
            rows.write_back()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    set_threads(1)
    torch.manual_seed(0)
    tok = ClipTokenizer()
    captions = ["a small red circle on the left, blue background", "a large green star at the top on a white background", ""]
    clip0, unet0 = CLIPTextModel(**CONFIG["clip"]), UNetModel(**CONFIG["unet"])
    batches = []
    for _ in range(6):
        caps = [captions[i % 3] for i in torch.randint(0, 3, (16,)).tolist()]
        batches.append((torch.tensor([tok.encode_sd1(c) for c in caps]), torch.randn(16, 4, 8, 8),
                        torch.randint(0, 1000, (16,)).float(), torch.randn(16, 4, 8, 8)))
    full_clip, full_unet = copy.deepcopy(clip0), copy.deepcopy(unet0)
    t_full = train(full_clip, full_unet, None, batches)
    rows_clip, rows_unet = copy.deepcopy(clip0), copy.deepcopy(unet0)
    words = sorted({w for c in captions for w in c.split()})
    rows = UsedTokenRows(rows_clip.embeddings.token_embedding, [i for w in words for i in tok.encode_sd1(w)])
    t_rows = train(rows_clip, rows_unet, rows, batches)
    worst = 0.0
    for (name, a), b in zip(list(full_clip.state_dict().items()) + list(full_unet.state_dict().items()),
                            list(rows_clip.state_dict().values()) + list(rows_unet.state_dict().values())):
        worst = max(worst, float((a - b).norm() / a.norm().clamp_min(1e-12)))
    moved = float((full_clip.embeddings.token_embedding.weight - clip0.embeddings.token_embedding.weight).abs().sum(1).gt(0).sum())
    print(f"{len(rows.ids)} used rows, {moved:.0f} rows moved in full-table training; largest relative weight "
          f"difference {worst:.2e}; median step {t_full:.3f} s full table, {t_rows:.3f} s used rows")
    if worst > 1e-5 or moved != len(rows.ids):
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
