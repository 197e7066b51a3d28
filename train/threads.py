"""Thread counts for PyTorch and for the OpenBLAS it calls for matmuls.

Debian's PyTorch 1.13 hands fp32 matmuls to OpenBLAS (pthreads build), whose own pool is sized to the cores
and which torch.set_num_threads does not reach: two training processes with one torch thread each still ran
two OpenBLAS threads each, spinning in sched_yield against each other (1.66 M context switches in a 30 s
profile, a third of the CPU time in the kernel). set_threads sets both.
"""
import ctypes

import numpy as np
import torch


def _openblas():
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libopenblas" in path:
                lib = ctypes.CDLL(path)
                return lib if hasattr(lib, "openblas_set_num_threads") else None
    return None


_OPENBLAS = _openblas()


def set_threads(n):
    torch.set_num_threads(n)
    if _OPENBLAS is not None:
        _OPENBLAS.openblas_set_num_threads(int(n))


class ThreadTuner:
    """On a shared, oversubscribed machine a 2-thread OpenMP step can be 5x slower than a 1-thread one (a
    descheduled worker stalls every barrier). Every `period` steps, time a few steps with the other thread
    count and keep whichever is faster."""

    def __init__(self, max_threads, period=60, probe=5):
        self.choices = sorted({1, max_threads})
        self.best, self.period, self.probe = self.choices[0], period, probe
        self.i, self.recent, self.trial = 0, [], []
        set_threads(self.best)

    def other(self):
        return [c for c in self.choices if c != self.best][0] if len(self.choices) > 1 else self.best

    def before(self):
        k = self.i % self.period
        set_threads(self.other() if k < self.probe else self.best)

    def after(self, dt):
        k = self.i % self.period
        (self.trial if k < self.probe else self.recent).append(dt)
        self.recent = self.recent[-20:]
        if k == self.probe - 1 and self.recent:
            tr = sorted(self.trial[1:])[: max(1, len(self.trial) - 2)]  # skip the first (switch) step
            if tr and np.mean(tr) < 0.9 * np.mean(self.recent):
                self.best, self.recent = self.other(), list(tr)
            self.trial = []
        self.i += 1
