"""Two-process data parallelism for the UNet stage on a 2-core machine.

Why processes and not threads: PyTorch's intra-op threading on this model's small tensors is slower with 2
threads than with 1 (1.41 vs 0.70 s per step of 32 items on a 2-core machine, before threads.py also limited
OpenBLAS's own pool, which was part of that slowdown), while two 1-thread processes each keep ~0.75 s per step.
Every step the peers sum their gradients (one flat gloo all-reduce) and apply the same update, so their weights
stay identical; rank 0 alone logs, evaluates, checkpoints and exports.
"""
import datetime
import os
import subprocess
import sys

import torch
import torch.distributed as dist


def rendezvous_file(out):
    return os.path.join(os.path.abspath(out), "dp_rendezvous")


def spawn_peer(out, argv):
    """Start rank 1 with the same arguments (it resumes from the checkpoint rank 0 has just written)."""
    path = rendezvous_file(out)
    if os.path.exists(path):
        os.remove(path)  # a stale rendezvous file from a killed run would make the new group hang
    return subprocess.Popen([sys.executable, os.path.abspath(sys.argv[0])] + argv + ["--rank", "1"])


def join(out, rank, world):
    # a long evaluation on rank 0 keeps rank 1 waiting in the all-reduce: allow for it
    dist.init_process_group("gloo", init_method="file://" + rendezvous_file(out), rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=60))


def broadcast_modules(*modules):
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t, src=0)


_flat = {}


def average_grad_sets(params, grad_sets, scalars):
    """Averages over the ranks each list of `params`' gradients (None: zero) and sums `scalars`, in one
    all-reduce; returns the averaged lists (views of one reused buffer) and the summed scalars."""
    world = dist.get_world_size()
    sets = [[g if g is not None else torch.zeros_like(p) for p, g in zip(params, grads)] for grads in grad_sets]
    flat_list = [g.reshape(-1) for grads in sets for g in grads]
    n_all = sum(g.numel() for g in flat_list) + len(scalars)
    if _flat.get("n") != n_all:  # one buffer for the run: a fresh 51 MB tensor per step cost 55-76 ms of page
        _flat.update(n=n_all, buf=torch.empty(n_all, dtype=flat_list[0].dtype))  # faults, a reused one 12 ms
    flat = _flat["buf"]
    torch.cat(flat_list + [torch.tensor(scalars, dtype=flat.dtype)], out=flat)
    dist.all_reduce(flat)
    flat[:-len(scalars) or None].div_(world)
    out, off = [], 0
    for grads in sets:
        views = []
        for g in grads:
            views.append(flat[off:off + g.numel()].view_as(g))
            off += g.numel()
        out.append(views)
    return out, flat[off:].tolist()


def sum_tensor(t):
    dist.all_reduce(t)


def leave():
    dist.destroy_process_group()
