"""Train only the token-embedding rows that the training captions use.

The CLIP token table is 49408 x 128 (6.3 M values, half of the UNet stage's trained parameters), but the
captions use a few dozen tokens. A row that never gets a gradient never moves under AdamW without weight decay
(its moments stay zero), so training a small table of the used rows is the same training, minus clipping,
all-reducing, updating and zeroing 6.3 M zero gradients at every step.
"""
import torch
import torch.nn.functional as F


class UsedTokenRows:
    def __init__(self, embedding, token_ids):
        self.embedding = embedding
        dev = embedding.weight.device
        self.ids = torch.tensor(sorted({int(i) for i in token_ids}), dtype=torch.long, device=dev)
        self.index = torch.full((embedding.num_embeddings,), -1, dtype=torch.long, device=dev)
        self.index[self.ids] = torch.arange(len(self.ids), device=dev)
        self.rows = torch.nn.Parameter(embedding.weight.detach()[self.ids].clone())
        embedding.weight.requires_grad_(False)
        embedding.forward = self.lookup  # this module only: an EMA copy made before keeps the plain table

    def lookup(self, ids):
        idx = self.index[ids]
        if bool((idx < 0).any()):
            raise ValueError("token outside the training captions' vocabulary; the used rows come from the "
                             "latent cache's captions")
        return F.embedding(idx, self.rows)

    def reload(self):
        """Take the rows from the full table again (after a broadcast replaced it)."""
        with torch.no_grad():
            self.rows.copy_(self.embedding.weight[self.ids])

    def write_back(self):
        """Put the trained rows into the full table, which checkpoints, EMA and export read."""
        with torch.no_grad():
            self.embedding.weight[self.ids] = self.rows
