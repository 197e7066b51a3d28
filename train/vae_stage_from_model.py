"""Recreate run `small`'s finished VAE stage from the shipped model, for a checkout without train/runs.

    python3 train/vae_stage_from_model.py [N_CACHE_IMAGES]

Then `train.py --out DIR --vae-from train/runs/small` trains a UNet stage on it, as every run since session 5 has.
The shipped f16 VAE upcast to f32 is session 2's rescaled VAE (encode -> decode of the held-out renders scores the
same 0.969 / 0.906 / 1.000); only the latent cache is encoded anew. The wall time counts session 2's 38.2 minutes
of VAE steps and rescale plus this cache's own seconds.
"""
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export  # noqa: E402
from checkpoint import save_ckpt  # noqa: E402
from stages.latents import build_latent_cache  # noqa: E402
from stages.vae import vae_ceiling  # noqa: E402
from threads import set_threads  # noqa: E402

SESSION2_VAE = {"steps": 2131, "step_seconds": 2220.0, "wall_before_cache_s": 38.2 * 60,
                "rescale": {"posterior_mean_std_before": 7.419503688812256, "c": 0.7399390869426349,
                            "decode_rel_change": 3.731994411282358e-07, "scaled_latent_std_after": 1.002457618713379,
                            "scaled_latent_mean_after": 0.1758604496717453,
                            "posterior_std_mean_after": 0.0805315300822258}}


def main():
    n_cache = int(sys.argv[1]) if len(sys.argv) > 1 else 20480
    out = os.path.join(HERE, "runs", "small")
    os.makedirs(out, exist_ok=True)
    set_threads(2)
    _, _, vae, _ = export.load_exported()
    rng = np.random.RandomState(2)
    t0 = time.time()
    cache = build_latent_cache(vae, rng, n_cache)
    cache_s = time.time() - t0
    torch.save(cache, os.path.join(out, "latents.pt"))
    ceiling = vae_ceiling(vae).tolist()
    wall = SESSION2_VAE["wall_before_cache_s"] + cache_s
    st = {"stage": "unet", "step": 0, "elapsed": 0.0, "history": [], "vae": vae.state_dict(),
          "vae_steps": SESSION2_VAE["steps"], "vae_elapsed": SESSION2_VAE["step_seconds"],
          "vae_rescale": dict(SESSION2_VAE["rescale"], heldout_recon_accuracy=ceiling),
          "np_rng": rng.get_state(), "torch_rng": torch.get_rng_state(), "wall_used": wall, "cache_seconds": cache_s,
          "notes": f"VAE weights: session 2's run small, read back from the shipped f16 model; latent cache "
                   f"re-encoded in {cache_s:.0f}s; "}
    save_ckpt(os.path.join(out, "ckpt.pt"), st)
    print(json.dumps({"cache_s": round(cache_s), "heldout_recon_accuracy": ceiling, "vae_wall_min": wall / 60}))


if __name__ == "__main__":
    main()
