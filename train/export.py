"""Export a trained run to one SD1-layout single-file checkpoint (f16 weights, standard safetensors).

    python3 train/export.py --run train/runs/small --out models/sd-native-tiny.safetensors

Keys: model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.text_model.* (+ I64
embeddings.position_ids [1,77], as real checkpoints carry). Also `load_exported()` for the other scripts.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
from sd_modules import CLIP_PREFIX, UNET_PREFIX, VAE_PREFIX, count_params  # noqa: E402
from tiny_config import CONFIG, build  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "..", "models", "sd-native-tiny.safetensors")


# The settings at which every sampler meets the accuracy bar (colour >= 0.9, shape >= 0.7, position >= 0.8)
# through the runtime (test/e2e/semantic.test.ts reads them back); generate() uses them when a caller gives no
# steps / CFG.
DEFAULT_STEPS, DEFAULT_CFG_SCALE = 40, 3


def metadata(cfg):
    return {
        "sd_native.family": "sd1",
        "format": "pt",
        "sd_native.model": "sd-native-tiny (procedural shapes, 64x64)",
        "sd_native.resolution": str(cfg["resolution"]),
        "sd_native.prediction": "eps",
        "sd_native.steps": str(DEFAULT_STEPS),
        "sd_native.cfg_scale": str(DEFAULT_CFG_SCALE),
        "sd_native.scale_factor": str(cfg["scale_factor"]),
        "sd_native.unet.num_heads": str(cfg["unet"]["num_heads"]),
        "sd_native.clip.num_heads": str(cfg["clip"]["heads"]),
        "sd_native.config": json.dumps(cfg, separators=(",", ":")),
    }


def export(run_dir, out):
    final = torch.load(os.path.join(run_dir, "final.pt"))
    cfg = final["config"]
    tensors = {}
    for prefix, sd in ((UNET_PREFIX, final["unet"]), (VAE_PREFIX, final["vae"]), (CLIP_PREFIX, final["clip"])):
        for k, v in sd.items():
            tensors[prefix + k] = v.detach().to(torch.float16).numpy()
    tensors[CLIP_PREFIX + "embeddings.position_ids"] = np.arange(77, dtype=np.int64)[None]
    tensors = dict(sorted(tensors.items()))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    st_io.save(out, tensors, metadata(cfg))
    return cfg


def load_exported(path=DEFAULT_OUT):
    """Exported f16 weights upcast to f32 -> (clip, unet, vae, cfg), all in eval mode."""
    t, meta = st_io.load(path)
    cfg = json.loads(meta["sd_native.config"]) if "sd_native.config" in meta else CONFIG
    clip, unet, vae = build(cfg)
    for prefix, m in ((CLIP_PREFIX, clip), (UNET_PREFIX, unet), (VAE_PREFIX, vae)):
        sd = {k[len(prefix):]: torch.from_numpy(v.astype(np.float32)) for k, v in t.items()
              if k.startswith(prefix) and not k.endswith("position_ids")}
        m.load_state_dict(sd, strict=True)
        m.eval()
    return clip, unet, vae, cfg


def summary(path):
    clip, unet, vae, cfg = load_exported(path)
    return {"file_bytes": os.path.getsize(path), "params": {"clip_text": count_params(clip), "unet": count_params(unet),
            "vae": count_params(vae), "vae_encoder": count_params(vae.encoder) + count_params(vae.quant_conv),
            "vae_decoder": count_params(vae.decoder) + count_params(vae.post_quant_conv)}, "config": cfg}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=os.path.join(HERE, "runs", "small"))
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args()
    export(a.run, a.out)
    print(json.dumps(summary(a.out), indent=1))
