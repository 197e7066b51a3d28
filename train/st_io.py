"""Minimal safetensors reader/writer (u64 LE header length, JSON header, raw little-endian data).

Written for sd-native's training scripts; numpy only (torch tensors are accepted by `save`).
"""
import json
import os
import struct

import numpy as np

_DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_NAME = {np.dtype(v).str.lstrip("<>|="): k for k, v in _DT.items()}


def load(path):
    """Return ({name: np.ndarray}, metadata dict)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        if v["dtype"] == "BF16":
            arr = (np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=np.dtype(_DT[v["dtype"]]).newbyteorder("<"))
        out[k] = arr.reshape(v["shape"]).copy()
    return out, meta


def save(path, tensors, metadata=None):
    """Write {name: array} as standard safetensors: header padded with spaces to a multiple of 8, tensors
    contiguous (no gaps, as the reference implementation requires), ordered by decreasing element size and,
    within that, tensors whose byte size is not a multiple of 8 last: every tensor starts at a multiple of its
    element size, and all but those last ones 8-byte aligned."""
    arrs = {}
    for k, v in tensors.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        a = np.ascontiguousarray(v)
        arrs[k] = a.astype(a.dtype.newbyteorder("<"))
    order = sorted(arrs, key=lambda k: (-arrs[k].itemsize, arrs[k].nbytes % 8 != 0))  # stable
    header, off = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for k in order:
        a = arrs[k]
        header[k] = {"dtype": _NAME[a.dtype.str.lstrip("<>|=")], "shape": list(a.shape),
                     "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((-len(hj)) % 8)
    # write aside and rename: a process that has the old file mmapped (the runtime maps weights in place) keeps
    # its pages instead of dying of SIGBUS when the file is truncated under it
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for k in order:
            f.write(arrs[k].tobytes())
    os.replace(tmp, path)
