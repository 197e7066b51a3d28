"""Checkpoint files: written atomically, read onto the CPU."""
import os

import torch


def load(path):
    """A checkpoint onto the CPU (load_state_dict then copies into the models' device); it holds numpy RNG
    state, so not weights-only."""
    return torch.load(path, map_location="cpu", weights_only=False)


def save_ckpt(path, st):
    tmp = path + ".tmp"
    torch.save(st, tmp)
    os.replace(tmp, path)


def cpu_state(sd):
    return {k: v.detach().cpu() for k, v in sd.items()}
