"""Thread counts for PyTorch and for the OpenBLAS it calls for matmuls.

Debian's PyTorch 1.13 hands fp32 matmuls to OpenBLAS (pthreads build), whose own pool is sized to the cores
and which torch.set_num_threads does not reach: two training processes with one torch thread each still ran
two OpenBLAS threads each, spinning in sched_yield against each other (1.66 M context switches in a 30 s
profile, a third of the CPU time in the kernel). set_threads sets both.
"""
import ctypes

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
