"""Between the stages: the latent cache (training images encoded once by the finished VAE), and taking a
finished VAE stage and its cache from another run (--vae-from)."""
import os
import shutil
import time

import numpy as np
import torch

import data
from checkpoint import load, save_ckpt
from stages.vae import border_median
from threads import set_threads


def object_cover(x, latent_factor=8):
    """Fraction of each latent pixel's 8x8 patch covered by an object: pixels farther than the scorer's mask
    threshold (60 of 255, train/eval_spec.md) from the image's border median. x [N,3,H,W] in [-1,1]."""
    mask = ((x - border_median(x)).norm(dim=1, keepdim=True) > 60 / 127.5).float()
    return torch.nn.functional.avg_pool2d(mask, latent_factor)[:, 0]


def add_cover(cache):
    """A cache that stores no covers (and no images): take each object's bounding box from its caption."""
    cache["cover"] = torch.from_numpy(np.stack([data.caption_cover(c) for c in cache["captions"]])).half()


@torch.no_grad()
def build_latent_cache(vae, rng, n, chunk=64):
    """Encode n training images once (posterior mean and std + caption): encoding on the fly would cost about
    a third of every UNet step; each cached image is seen a few times, with fresh posterior noise and fresh
    diffusion noise each time."""
    dev = next(vae.parameters()).device
    means, stds, covers, caps = [], [], [], []
    for _ in range((n + chunk - 1) // chunk):
        x, c = data.batch(rng, chunk)
        x = torch.from_numpy(x).to(dev)
        mom = vae.encode_moments(x)
        means.append(mom[:, :4].clone())
        stds.append(torch.exp(0.5 * mom[:, 4:].clamp(-30, 20)))
        covers.append(object_cover(x).half())
        caps += c
    return {"mean": torch.cat(means)[:n].cpu(), "std": torch.cat(stds)[:n].cpu(),
            "cover": torch.cat(covers)[:n].cpu(), "captions": caps[:n]}


def load_or_build(s):
    """The run's latent cache: latents.pt, or encoded now (and saved) when the run has none yet."""
    a, run = s.a, s.run
    cache_path = os.path.join(a.out, "latents.pt")
    if os.path.exists(cache_path):
        cache = load(cache_path)
        if "cover" not in cache and a.obj_weight > 0 and not s.peer:
            tc = time.time()
            add_cover(cache)
            torch.save(cache, cache_path)
            run.log(f"object covers of {len(cache['captions'])} cached latents from their captions' boxes "
                    f"in {time.time() - tc:.0f}s")
        return cache
    tc = time.time()
    set_threads(a.threads)  # large batches: both cores pay off here
    cache = build_latent_cache(s.vae, s.rng, a.cache_images)
    torch.save(cache, cache_path)
    s.st["cache_seconds"] = time.time() - tc
    run.log(f"encoded {a.cache_images} training images in {s.st['cache_seconds']:.0f}s")
    return cache


def take_vae_stage(src_dir, out, ck, run, seed=0):
    """Begin a run at its UNet stage with the VAE and latent cache of another run's finished VAE stage, so a
    change to the UNet recipe is not paid for with a retrained VAE. The wall time counts the source's VAE
    stage (its total minus its UNet steps, so its UNet evaluations are counted too: an upper bound)."""
    src = load(os.path.join(src_dir, "ckpt.pt"))
    if src["stage"] == "vae" or "vae_rescale" not in src:
        raise SystemExit(f"--vae-from {src_dir}: that run has not finished its VAE stage")
    vae_wall = src["wall_used"] - (src["elapsed"] if src["stage"] in ("unet", "done") else 0.0)
    st = {k: src[k] for k in ("vae", "vae_steps", "vae_elapsed", "vae_rescale", "np_rng", "torch_rng")}
    st.update({"stage": "unet", "step": 0, "elapsed": 0.0, "history": [], "wall_used": vae_wall,
               "wall_start": time.time() - vae_wall, "cache_seconds": src.get("cache_seconds"),
               "notes": (src.get("notes") or "") + (
                   f"the VAE stage and latent cache come from run {os.path.basename(os.path.abspath(src_dir))} "
                   f"(same VAE arguments; {src['vae_steps']} steps, {src['vae_elapsed'] / 60:.1f} min of VAE steps, "
                   f"{vae_wall / 60:.1f} min of wall time up to its UNet stage); ")})
    if seed:  # the UNet stage's data stream is the source's unless another seed is asked for
        st["np_rng"] = np.random.RandomState(seed).get_state()
        st["torch_rng"] = torch.Generator().manual_seed(seed).get_state()
    shutil.copyfile(os.path.join(src_dir, "latents.pt"), os.path.join(out, "latents.pt"))
    save_ckpt(ck, st)
    run.log(f"took the VAE stage of {src_dir}: {src['vae_steps']} steps, wall {vae_wall / 60:.1f} min")
