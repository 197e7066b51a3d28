"""Seconds per training step of the small model on this CPU, f32 against bf16 autocast.

Issue 4's 90 minutes are a budget of steps: the recipe (docs/experiments/2026-11-28-small-model-runs.md) needs ~2000 UNet steps of 64 before
position is learned and ~2200 more for shape, after a VAE stage of ~37 minutes. On a host without AVX512-BF16
each step runs in f32; this measures what bf16 autocast would buy on the host it runs on, per stage, with the
shapes the recipe trains (UNet stage: 32 items and their captions per process; VAE stage: 8 images of 64x64).

    /usr/bin/python3 bench/train_step.py [--threads 1] [--reps 7]

Prints one JSON line: the CPU's bf16 support as oneDNN sees it, then median seconds per step for each stage in
f32, and in bf16 with the ratio where oneDNN has bf16 kernels (or --force-bf16). Compare variants in the same run: the machines are shared and noisy.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from tiny_config import build  # noqa: E402
from train import unet_stage_optimizer, vae_loss  # noqa: E402


# PyTorch 1.13's CPU autocast has no rule for group_norm or layer_norm, so a bf16 activation meets f32 weights and
# fails: run the norms in f32 (what a bf16 training recipe would do anyway) and let the next matmul cast back
for norm in (torch.nn.GroupNorm, torch.nn.LayerNorm):
    norm.forward = (lambda f32_forward: lambda self, x: f32_forward(self, x.float()))(norm.forward)


def median_seconds(step, reps):
    step()  # the first call allocates and picks kernels
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def unet_step(clip, unet, opt, items, bf16):
    ids = torch.randint(0, 49408, (items, 77))
    x = torch.randn(items, 4, 8, 8)
    t = torch.randint(0, 1000, (items,)).float()
    noise = torch.randn_like(x)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = unet(x, t, clip(ids))
        loss = (pred.float() - noise).pow(2).mean()
        loss.backward()
        opt.step()
    return step


def vae_step(vae, opt, images, bf16):
    x = torch.rand(images, 3, 64, 64) * 2 - 1

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = vae_loss(vae, x, 1e-5)
        loss.float().backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="the recipe trains on 2 one-thread processes")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--unet-items", type=int, default=32)
    ap.add_argument("--vae-images", type=int, default=8)
    ap.add_argument("--force-bf16", action="store_true",
                    help="time bf16 even where oneDNN has no bf16 kernels (Zen 3, AVX2: 13x slower for the UNet "
                         "step, 18x for the VAE step, 2026-11-27)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    clip, unet, vae = build()
    _, unet_opt = unet_stage_optimizer(unet, clip, None, 1e-4)
    vae_opt = torch.optim.AdamW(vae.parameters(), lr=1e-4, foreach=True)
    bf16_kernels = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    out = {"torch": torch.__version__, "threads": a.threads, "onednn_bf16": bf16_kernels}
    for stage, make in (("unet", lambda bf16: unet_step(clip, unet, unet_opt, a.unet_items, bf16)),
                        ("vae", lambda bf16: vae_step(vae, vae_opt, a.vae_images, bf16))):
        f32 = median_seconds(make(False), a.reps)
        out[stage] = {"f32_s": round(f32, 4)}
        if bf16_kernels or a.force_bf16:
            bf16 = median_seconds(make(True), a.reps)
            out[stage].update({"bf16_autocast_s": round(bf16, 4), "bf16_speedup": round(f32 / bf16, 3)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
