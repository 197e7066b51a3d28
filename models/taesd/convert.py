"""Converts madebyollin/taesd's .pth state dicts to the .safetensors files shipped here, once.
Keys stay the upstream nn.Sequential ones ("3.conv.0.weight"); dtypes stay as stored (f16 or f32).
torch.load runs with weights_only=True, so a file holding anything but tensors is refused.
    /usr/bin/python3 models/taesd/convert.py <folder with taesd_decoder.pth ...> [<source commit>]
writes models/taesd/<name>.safetensors for each of NAMES found and prints their sha256."""
import hashlib
import json
import os
import struct
import sys

import torch

NAMES = ["taesd_decoder", "taesd_encoder", "taesdxl_decoder", "taesdxl_encoder"]
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
HERE = os.path.dirname(os.path.abspath(__file__))


def save(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        # Byte view of the tensor's own storage: bf16 has no numpy dtype.
        b = t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    src, commit = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "unknown")
    for name in NAMES:
        pth = os.path.join(src, name + ".pth")
        if not os.path.exists(pth):
            print("missing", pth)
            continue
        state = torch.load(pth, map_location="cpu", weights_only=True)
        meta = {"source": "madebyollin/taesd " + name + ".pth", "commit": commit, "license": "MIT"}
        out = os.path.join(HERE, name + ".safetensors")
        save(out, state, meta)
        with open(out, "rb") as f:
            print(name + ".safetensors", hashlib.sha256(f.read()).hexdigest(), len(state), "tensors")


if __name__ == "__main__":
    main()
