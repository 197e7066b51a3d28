"""Train the sd-native tiny SD1 model from scratch on procedural shapes (CPU, time-budgeted, resumable).

    /usr/bin/python3 train/train.py --out train/runs/one     # on an idle machine: the budgets are wall-clock

Stage 1: VAE (L1 + MSE + edge L1 + small KL), then rescale so that scaled latents have unit std.
Stage 2: UNet + CLIP text encoder jointly on the frozen VAE's scaled latents (eps MSE, AdamW, 10% empty captions;
options: items at t=999 with the signal removed, x0 weighting at low SNR, two data-parallel processes).
Each stage runs for a wall-clock budget (--vae-minutes, --unet-minutes); LR schedules follow the fraction of the
budget used. In the UNet stage a shape phase (low-noise steps only) starts once a position check passes, with the
text encoder frozen; after the budget a text phase (--text-phase-minutes) continues it with the text encoder
training again, run as a resumed run of the same command. A checkpoint (models, optimiser, step, elapsed time,
RNG states) is written every few minutes; re-running the same command resumes. At the end `final.pt` is written
and train/finish.py is run.

On a GPU (`--device cuda --procs 1`) the same recipe runs in minutes; with `--sim-clock` every step is charged what
it costs on the 2-core CPU instead of its own time, so the GPU replays the CPU run's schedules step for step
(train/replay_sweep.sh runs several such replays at once).
"""
import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import data_parallel
import eval_metrics  # noqa: E402
from threads import set_threads  # noqa: E402
import sampling  # noqa: E402
from tiny_config import CONFIG, build  # noqa: E402
from token_rows import UsedTokenRows  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402
try:  # torch >= 2.0 (a GPU machine's); Debian 12's 1.13 has only the older home
    from torch.func import functional_call  # noqa: E402
except ImportError:
    from torch.nn.utils.stateless import functional_call  # noqa: E402


class Run:
    def __init__(self, out, quiet=False):
        self.out, self.quiet = out, quiet  # quiet: a data-parallel peer, rank 0 writes the records
        os.makedirs(out, exist_ok=True)
        if not quiet:
            self.logf = open(os.path.join(out, "log.txt"), "a")
            self.csv = open(os.path.join(out, "losses.csv"), "a")

    def log(self, msg):
        if self.quiet:
            return
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        self.logf.write(line + "\n")
        self.logf.flush()

    def loss(self, stage, step, elapsed, **vals):
        if self.quiet:
            return
        self.csv.write(",".join([stage, str(step), f"{elapsed:.1f}"] + [f"{k}={v:.6f}" for k, v in vals.items()]) + "\n")
        self.csv.flush()


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


# --sim-clock: what each unit of work costs on the 2-core Zen 3 the recipe is budgeted for (run `one`, session 16:
# 3338 VAE steps in 37 min, 0.44 s on 32x32 crops and 0.87 s on whole images; UNet steps of 64 on two processes,
# 0.98 s with the text encoder training and 0.77 s with it frozen; a position check 10 s; the frozen encoder's
# contexts of ~16k captions 34 s). A faster device charged these instead of its own time replays the CPU's
# schedules step for step.
SIM_SECONDS = {"vae_step_crops": 0.44, "vae_step": 0.87, "unet_step": 0.98, "unet_step_frozen_text": 0.77,
               "position_check": 10.0, "contexts": 34.0}


def load(path):
    """A checkpoint onto the CPU (load_state_dict then copies into the models' device); it holds numpy RNG
    state, so not weights-only."""
    return torch.load(path, map_location="cpu", weights_only=False)


def cpu_state(sd):
    return {k: v.detach().cpu() for k, v in sd.items()}


# the UNet's full-resolution (8x8 latent) level: where a shape's detail is drawn (--zero-scope coarse)
FINE_LEVEL = ("input_blocks.0.", "input_blocks.1.", "output_blocks.4.", "output_blocks.5.", "out.")


def lr_at(progress, step, peak, warmup):
    w = min(1.0, (step + 1) / warmup)
    return peak * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


# the shape phase's own cosine resumes at this progress in the text phase (lr 0.966 x its peak): where the
# shipped run lA's second segment, started by hand with --rebase-phase-at, resumed it
TEXT_PHASE_RESUME = 0.1246


# written into a run's notes when a resumed command names another --unet-minutes: finish.py reads it as "the
# phases were started by hand", since the arguments final.pt records are then only the last segment's
BUDGET_CHANGED = "the UNet budget changed"


def text_phase_resume_lr_factor():
    """The text phase's first lr as a fraction of the shape phase's peak."""
    return lr_at(TEXT_PHASE_RESUME, step=10**9, peak=1.0, warmup=1)


def text_phase_args(a, ended_s):
    """The arguments that run the text phase as a resumed run (the code path of a hand-extended run, so it is
    resumable like any other): the budget grows by --text-phase-minutes, the phase's start moves so that its
    cosine resumes at TEXT_PHASE_RESUME where the budget's last step ended (ended_s), and the text encoder
    trains again (unless --text-phase-frozen)."""
    total = a.unet_minutes + a.text_phase_minutes
    start = (ended_s / 60 - TEXT_PHASE_RESUME * total) / (1 - TEXT_PHASE_RESUME)
    return argparse.Namespace(**dict(vars(a), unet_minutes=total, rebase_phase_at=start / total,
                                     freeze_text_with_phase=a.text_phase_frozen, text_phase_minutes=0.0))


def save_ckpt(path, st):
    tmp = path + ".tmp"
    torch.save(st, tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ VAE stage
def border_median(x):
    """Per image and channel, the median of the border pixels: the background colour of every training image.
    x [N,C,H,W] -> [N,C,1,1]."""
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], dim=-1)
    return border.median(dim=-1).values[..., None, None]


def vae_loss(vae, x, kl_weight):
    mom = vae.encode_moments(x)
    mean, logvar = mom[:, :4], mom[:, 4:].clamp(-30, 20)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    rec = vae.decode(z)
    # Objects cover a fifth of the pixels but decide every evaluated attribute: weight them x4 (object =
    # pixels away from the image's border median, which is the background colour in every training image).
    bg = border_median(x)
    w = 1 + 3 * ((x - bg).abs().amax(dim=1, keepdim=True) > 0.1).float()
    w = w / w.mean(dim=[1, 2, 3], keepdim=True)
    l1 = (w * (rec - x).abs()).mean()
    l2 = (w * (rec - x) ** 2).mean()
    edge = ((rec[..., 1:] - rec[..., :-1]) - (x[..., 1:] - x[..., :-1])).abs().mean() + \
           ((rec[..., 1:, :] - rec[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs().mean()
    kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(dim=[1, 2, 3]).mean()
    loss = l1 + l2 + 0.5 * edge + kl_weight * kl / x[0].numel()
    return loss, {"l1": l1.item(), "mse": l2.item(), "edge": edge.item(), "kl": kl.item()}


@torch.no_grad()
def rescale_vae(vae, rng, n=512, target_std=1.0):
    """Make scale_factor * posterior mean have std target_std: exact reparametrisation of quant/post_quant convs.
    A target below 1 shifts the whole noise schedule towards noise for this model while the runtime keeps SD1's
    scale factor and sigmas (at sigma_max = 14.6 a unit-std 8x8 latent still shows where its object is)."""
    dev = next(vae.parameters()).device
    means = []
    for _ in range(n // 64):
        x = torch.from_numpy(data.batch(rng, 64)[0]).to(dev)
        means.append(vae.encode_moments(x)[:, :4])
    m = torch.cat(means)
    s = m.std().item()
    c = (target_std / CONFIG["scale_factor"]) / s
    x = torch.from_numpy(data.batch(rng, 8)[0]).to(dev)
    mom0 = vae.encode_moments(x)
    before = vae.decode(mom0[:, :4])
    vae.quant_conv.weight[:4] *= c
    vae.quant_conv.bias[:4] *= c
    vae.quant_conv.bias[4:] += 2 * math.log(c)
    vae.post_quant_conv.weight /= c
    mom1 = vae.encode_moments(x)
    after = vae.decode(mom1[:, :4])
    diff = ((after - before).norm() / before.norm()).item()
    m2 = torch.cat([vae.encode_moments(torch.from_numpy(data.batch(rng, 64)[0]).to(dev))[:, :4]
                    for _ in range(4)])
    return {"posterior_mean_std_before": s, "c": c, "decode_rel_change": diff,
            "scaled_latent_std_after": (m2 * CONFIG["scale_factor"]).std().item(),
            "scaled_latent_mean_after": (m2 * CONFIG["scale_factor"]).mean().item(),
            "posterior_std_mean_after": torch.exp(0.5 * mom1[:, 4:].clamp(-30, 20)).mean().item()}


@torch.no_grad()
def vae_ceiling(vae):
    """Score encode->decode of rendered held-out items with the evaluation's measure: the accuracy the UNet
    could reach at best through this VAE."""
    spec = json.load(open(os.path.join(HERE, "heldout_prompts.json")))
    acc = np.zeros(3)
    rng = np.random.RandomState(5)
    for it in spec["prompts"]:
        side = data.SIZES[it["size"]] * data.RES
        px, py = data.POSITIONS[it["position"]]
        img = data.render([{"shape": it["shape"], "color": it["color"], "side": side, "cx": px * data.RES + rng.uniform(-2, 2),
                            "cy": py * data.RES + rng.uniform(-2, 2)}], it["background"])
        x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0)
        rec = vae.decode(vae.encode_moments(x.to(next(vae.parameters()).device))[:, :4])[0]
        im = ((rec.clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        r = eval_metrics.score(im, it, spec)
        acc += [r["color_ok"], r["shape_ok"], r["position_ok"]]
    return acc / len(spec["prompts"])


# ------------------------------------------------------------------------------------------------ UNet stage
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


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of [N,C,H,W] with reflected borders (radius 2 sigma, at least 1)."""
    r = max(1, int(math.ceil(2 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def object_cover(x, latent_factor=8):
    """Fraction of each latent pixel's 8x8 patch covered by an object: pixels farther than the scorer's mask
    threshold (60 of 255, train/eval_spec.md) from the image's border median. x [N,3,H,W] in [-1,1]."""
    mask = ((x - border_median(x)).norm(dim=1, keepdim=True) > 60 / 127.5).float()
    return torch.nn.functional.avg_pool2d(mask, latent_factor)[:, 0]


def add_cover(cache):
    """A cache built before covers were stored keeps no images (decoding them would take 22 min): take each
    object's bounding box from its caption (data.caption_cover; correlation 0.76 with the image covers)."""
    cache["cover"] = torch.from_numpy(np.stack([data.caption_cover(c) for c in cache["captions"]])).half()


def quick_eval(clip, unet, vae, tok, seeds=(0,), steps=20, cfg=6.0, sampler="euler", limit=None):
    spec = json.load(open(os.path.join(HERE, "heldout_prompts.json")))
    items = spec["prompts"][:limit]
    acc = np.zeros(3)
    n = 0
    for seed in seeds:
        imgs = sampling.generate(clip, unet, vae, tok, [it["prompt"] for it in items], [seed] * len(items),
                                 sampler=sampler, steps=steps, cfg=cfg)
        for im, it in zip(imgs, items):
            r = eval_metrics.score(im, it, spec)
            acc += [r["color_ok"], r["shape_ok"], r["position_ok"]]
            n += 1
    return acc / n


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


def unet_stage_optimizer(unet, clip, token_rows, lr):
    """AdamW over what the UNet stage trains (no weight decay on embeddings, norms and biases)."""
    params = [p for p in list(unet.parameters()) + list(clip.parameters()) if p.requires_grad]
    no_wd = [p for n, p in list(unet.named_parameters()) + list(clip.named_parameters())
             if p.requires_grad and (p.ndim < 2 or "embedding" in n)]
    if token_rows:
        params.append(token_rows.rows)
        no_wd.append(token_rows.rows)
    ids_no_wd = {id(p) for p in no_wd}
    opt = torch.optim.AdamW([{"params": [p for p in params if id(p) not in ids_no_wd], "weight_decay": 0.01},
                             {"params": no_wd, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99),
                            foreach=True)  # one fused pass per op over all tensors: 5% of a step on 1 thread
    return params, opt


@torch.no_grad()
def caption_contexts(clip, ids_of, captions, rank=0, world=1, chunk=256):
    """The frozen text encoder's output for every distinct caption (and the empty one): [n, 77, width] and a
    caption -> row map. Data-parallel ranks each encode a share and sum the table (~16k captions: 69 s alone)."""
    clip.eval()
    uniq = sorted(set(captions) | {""})
    rows = None
    for i in range(rank * chunk, len(uniq), world * chunk):
        h = clip(ids_of(uniq[i:i + chunk]))
        if rows is None:
            rows = torch.zeros(len(uniq), *h.shape[1:], device=h.device)
        rows[i:i + len(h)] = h
    if world > 1:
        data_parallel.sum_tensor(rows)
    return rows, {c: i for i, c in enumerate(uniq)}


def ema_update(ema, model, decay):
    with torch.no_grad():  # one fused pass over all tensors: a loop launches ~800 tiny kernels a step on a GPU
        pe, pm = list(ema.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_mul_(pe, decay)
        torch._foreach_add_(pe, pm, alpha=1 - decay)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "runs", "small"))
    ap.add_argument("--vae-minutes", type=float, default=28.0,
                    help="the shipped run z90 (session 20, a 2-core Zen 4): 28, 4254 steps; 37 on the Zen 3 of sessions "
                         "2-19, where a VAE step took ~2x as long")
    ap.add_argument("--vae-max-steps", type=int, default=6000)
    ap.add_argument("--vae-crop-frac", type=float, default=0.32,
                    help="fraction of the VAE budget trained on 32x32 crops (4x cheaper per image)")
    ap.add_argument("--unet-minutes", type=float, default=42.0,
                    help="the UNet stage's budget up to the text phase: its schedules (lr cosine, zero-signal "
                         "fraction) are fractions of it, so a longer one places the object later (session 15's probe "
                         "r65: position 0.66 at 46 min, against 0.97 at 32 min at 46.3; the shipped z90, session 20: 42, "
                         "4142 steps, its shape phase from the fallback at step 2875, unplaced)")
    ap.add_argument("--text-phase-minutes", type=float, default=13.0,
                    help="after --unet-minutes, continue the shape phase this long with the text encoder training "
                         "again and the phase's cosine restarted (run tzA's, shipped until session 20: 1052 steps of "
                         "64 on two processes took shape 0.25-0.28 -> 0.77-0.81; the shipped z90: 13 minutes, 1120 "
                         "steps, 0.75 -> 0.875; 0: off)")
    ap.add_argument("--text-phase-frozen", action="store_true",
                    help="keep the text encoder frozen in the text phase too (steps ~0.76 s instead of ~0.83 s, but "
                         "session 19's probe fzA, tzA's 14.7 minutes with it frozen, learned shape 0.44-0.55 where "
                         "tzA learned 0.77-0.81)")
    ap.add_argument("--latent-std", type=float, default=1.0,
                    help="std of scale_factor * latent after the VAE stage (SD1 itself: about 1; 0.5 was tried in "
                         "session 3 and trained worse on the CPU: train/run_notes.md)")
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--unet-batch", type=int, default=64,
                    help="items per step, split over --procs (32 at the same item rate does not learn position)")
    ap.add_argument("--vae-lr", type=float, default=8e-4)
    ap.add_argument("--unet-lr", type=float, default=1e-3)
    ap.add_argument("--kl-weight", type=float, default=1e-5)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--eval-minutes", type=float, default=12.0)
    ap.add_argument("--eval-prompts", type=int, default=16, help="limit the in-training evaluation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-images", type=int, default=20480,
                    help="images encoded once after the VAE stage; the UNet stage samples from them")
    ap.add_argument("--min-snr", type=float, default=5.0, help="min-SNR-gamma loss weighting (0: off)")
    ap.add_argument("--snr-floor", type=float, default=1.0,
                    help="weight noisier items as if the loss were on x0 (weight 1/SNR) below this SNR; 0: off")
    ap.add_argument("--ordinary-snr-floor", type=float, default=None,
                    help="--snr-floor for the items that keep their signal (default: the same); the zero-signal items "
                         "keep --snr-floor, which makes their loss the x0 error that teaches position")
    ap.add_argument("--zero-frac", type=float, default=0.5,
                    help="fraction of each UNet batch drawn at t=999 with the signal removed, so the layout must come "
                         "from the caption (train/run_notes.md: without it position is not learned; 0: the session-2 "
                         "recipe)")
    ap.add_argument("--zero-frac-end", type=float, default=0.2,
                    help="the zero-signal fraction falls linearly from --zero-frac to this over the UNet stage "
                         "(GPU sweep, session 6: colour 0.91-0.92 and position 0.97-1.00 at 3200 steps on two "
                         "seeds, against 0.77-0.98 / 0.91-0.97 at a constant 0.5)")
    ap.add_argument("--freeze-text-at", type=float, default=1.0,
                    help="fraction of the UNet budget after which the text encoder stops training and every cached "
                         "caption's context is computed once (a quarter of each step was the text encoder's)")
    ap.add_argument("--obj-weight-ordinary", type=float, default=None,
                    help="--obj-weight for the items that keep their signal (default: the same; GPU, session 6: the "
                         "plain recipe learned shape 0.84 without it, 0.64 with x4)")
    ap.add_argument("--split-adam", action="store_true",
                    help="a second AdamW state for the zero-signal items' gradient, so their x0 error (3.4x the "
                         "ordinary items' gradient norm, cosine 0.19; train/run_notes.md, session 7) no longer "
                         "shrinks the ordinary items' normalised steps")
    ap.add_argument("--zero-lr-scale", type=float, default=1.0, help="--split-adam: the zero-signal optimiser's lr factor")
    ap.add_argument("--zero-scope", choices=["all", "coarse"], default="all",
                    help="which UNet weights the zero-signal items train: coarse leaves the 8x8 level's weights "
                         "(input_blocks 0-1, output_blocks 4-5, out) to the items that keep their signal, whose "
                         "low-noise detail (shape) the zero-signal items' blob-drawing gradient otherwise overwrites (session 12's "
                         "run zc: colour and position stalled, shape no better: off)")
    ap.add_argument("--zero-target-blur", type=float, default=0.0,
                    help="Gaussian sigma (latent pixels) of the zero-signal items' x0 target: lowers the irreducible "
                         "part of their error, which dominates their gradient once the layout is learned; 0: off")
    ap.add_argument("--t-band", type=int, nargs=2, default=[200, 600],
                    help="timestep range (sigma ~0.6-2) where the plain recipe's trajectories decide an object's shape")
    ap.add_argument("--t-band-frac", type=float, default=0.0,
                    help="fraction of the items that keep their signal drawn in --t-band instead of over all 1000 steps")
    ap.add_argument("--shape-phase-at", type=float, default=0.75,
                    help="fraction of the UNet budget after which every item keeps its signal, with t drawn in "
                         "--shape-phase-band, plain min-SNR weights and no object weight: once the high-noise steps "
                         "have learned the layout, the low-noise steps learn to shape the object (train/run_notes.md, "
                         "session 9: shape 0.16 -> 0.28, colour 0.88 -> 0.91 at 0.75); 1: never")
    ap.add_argument("--shape-phase-band", type=int, nargs=2, default=[0, 600],
                    help="timesteps of the shape phase (sigma up to ~2: the high-noise steps that place the object "
                         "are left as the zero-signal items taught them)")
    ap.add_argument("--shape-phase-zero-frac", type=float, default=0.0,
                    help="fraction of the shape phase's items that stay zero-signal items (with their x0 weight and "
                         "object weight), so the steps that place the object keep being trained (session 10: 0.2 took shape "
                         "back to ow10's 0.17-0.19; off by default)")
    ap.add_argument("--shape-phase-when-placed", type=float, default=0.9,
                    help="start the shape phase as soon as a position check (Euler 20, CFG 6, the 32 held-out "
                         "prompts, seed 0, EMA) reaches this accuracy, but not before --shape-phase-check-from; "
                         "--shape-phase-at stays the latest start (0: off). Session 10: the phase needs position "
                         "learned first, and its length decides shape")
    ap.add_argument("--shape-phase-check-from", type=float, default=0.45,
                    help="fraction of the UNet budget where the position checks begin")
    ap.add_argument("--shape-phase-check-minutes", type=float, default=2.5,
                    help="UNet minutes between position checks (their time counts in the budget)")
    ap.add_argument("--freeze-text-with-phase", action=argparse.BooleanOptionalAction, default=True,
                    help="freeze the text encoder when the shape phase starts, until the text phase (its steps cost "
                         "~0.75 s instead of ~0.83-1.05 s; session 11's run ad90 learned no shape in 1105 frozen phase "
                         "steps, yet with the text phase after them they became runs lA and tzA)")
    ap.add_argument("--rebase-phase-at", type=float, default=None,
                    help="when a run whose shape phase has begun is resumed with a new --unet-minutes, the phase's "
                         "start as a fraction of the new budget (its own cosine restarts from there; the shipped "
                         "run lA: 0.5, the lr resumed at 0.96x the phase's peak)")
    ap.add_argument("--shape-phase-lr", type=float, default=1e-3,
                    help="peak lr of the shape phase's own cosine (0: the stage's cosine carries on)")
    ap.add_argument("--shape-phase-batch", type=int, default=0,
                    help="items per step in the shape phase (0: --unet-batch). Session 13's probes: at equal minutes "
                         "16, 32 and 64 items learn the same shape, and fewer cost colour and position: off")
    ap.add_argument("--item-repeats", type=int, default=1,
                    help="each cache entry drawn for a step is used this many times (own noise, t and posterior "
                         "sample), so the text encoder runs on 1/this of the items. "
                         "Session 14: 4 makes a step of 64 1.3x faster but learns no more shape per minute (probes "
                         "k1 / k4): off")
    ap.add_argument("--shape-phase-item-repeats", type=int, default=0,
                    help="--item-repeats once the shape phase begins (0: the same)")
    ap.add_argument("--shape-phase-text-scale", type=float, default=1.0,
                    help="the text encoder's share of each phase step (its lr is this times the phase's): a high "
                         "phase lr that moves the text encoder as far loses colour (session 12's probe pE at 0.4: shape kept, "
                         "position not: off)")
    ap.add_argument("--obj-weight", type=float, default=10.0,
                    help="latent pixels under an object weigh 1 + this times their cover in the UNet loss "
                         "(per image normalised to mean 1; 0: off)")
    ap.add_argument("--procs", type=int, default=2,
                    help="data-parallel processes in the UNet stage (2: 1.2x the items per second at batch 64)")
    ap.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--vae-from", default=None,
                    help="start from another run's finished VAE stage and latent cache (same VAE arguments)")
    ap.add_argument("--seed", type=int, default=0,
                    help="another UNet/CLIP initialisation and data stream (0: the shipped run's)")
    ap.add_argument("--no-finish", action="store_true")
    ap.add_argument("--device", default="cpu",
                    help="where to train: cpu, or cuda (one process; the samples' noise is still drawn on the CPU)")
    ap.add_argument("--sim-clock", action="store_true",
                    help="charge each step and check what it costs on the 2-core CPU the budgets are set for "
                         "(SIM_SECONDS) instead of its own time: a GPU then replays the CPU recipe step for step")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # the CPU computes in full f32: so does the GPU (PyTorch's default lets cuDNN convolve in TF32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    if dev.type != "cpu" and a.procs > 1:
        raise SystemExit(f"--device {a.device} trains in one process: add --procs 1")
    a_given = a  # the command as typed: the recipe that final.pt records, whatever phase this start runs
    peer = a.rank > 0
    tuner = ThreadTuner(1 if peer else a.threads)
    run = Run(a.out, quiet=peer)
    ck = os.path.join(a.out, "ckpt.pt")
    if a.seed:  # 0 keeps torch's default stream, which initialised the shipped run
        torch.manual_seed(a.seed)
    clip, unet, vae = (m.to(dev) for m in build())
    tok = ClipTokenizer()
    st = {"stage": "vae", "step": 0, "elapsed": 0.0, "wall_start": time.time(), "history": []}
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    with torch.no_grad():  # start with a nearly deterministic posterior (std ~0.02): the decoder sees clean
        vae.quant_conv.bias[4:] = -8.0  # latents from step 0 instead of unit noise (the KL weight is tiny)
    vopt = torch.optim.AdamW(vae.parameters(), lr=a.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
    if a.vae_from and not os.path.exists(ck):
        take_vae_stage(a.vae_from, a.out, ck, run, a.seed)
    if os.path.exists(ck):
        st = load(ck)
        vae.load_state_dict(st["vae"])
        if st["stage"] == "vae" and "vopt" in st:
            vopt.load_state_dict(st["vopt"])
        rng.set_state(st["np_rng"])
        torch.set_rng_state(st["torch_rng"])
        if dev.type == "cuda" and st.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(st["cuda_rng"])
        run.log(f"resumed stage {st['stage']} step {st['step']} elapsed {st['elapsed']:.0f}s")
        if st.get("text_phase") and a.text_phase_minutes > 0:
            a_given, a = a, text_phase_args(a, st["text_phase_from_s"])
            run.log(f"text phase: UNet budget {a.unet_minutes:g} min, the shape phase re-anchored at "
                    f"{a.rebase_phase_at:.3f} of it, the text encoder "
                    f"{'frozen' if a.text_phase_frozen else 'training'}")
    else:
        run.log(f"new run; config {json.dumps(CONFIG)}; args {vars(a)}")
    t_sess = time.time()

    def snapshot(extra):
        d = dict(st)  # bookkeeping first: a resumed `st` also holds the stale tensors it was loaded with
        d.update({"vae": cpu_state(vae.state_dict()), "np_rng": rng.get_state(), "torch_rng": torch.get_rng_state(),
                  "cuda_rng": torch.cuda.get_rng_state() if dev.type == "cuda" else None})
        d.update(extra)
        d["wall_used"] = st.get("wall_used", 0.0) + (time.time() - t_sess)
        return d

    # ---------------- stage 1: VAE
    if not peer and st["stage"] == "unet" and st["step"] == 0 and a.vae_minutes * 60 > st["vae_elapsed"] + 30:
        # a larger --vae-minutes before the UNet stage has begun: re-open the VAE stage (the latent rescale
        # is an exact reparametrisation, so training simply continues and the rescale is redone after)
        run.log(f"re-opening the VAE stage: {st['vae_elapsed']:.0f}s -> {a.vae_minutes * 60:.0f}s")
        ceil = (st.get("vae_rescale") or {}).get("heldout_recon_accuracy")
        st["notes"] = (st.get("notes") or "") + (
            f"the VAE stage was re-opened after {st['vae_steps']} steps / {st['vae_elapsed'] / 60:.1f} min "
            f"(held-out reconstruction check then: {ceil}) and ran to {a.vae_minutes:g} min; ")
        st.update({"stage": "vae", "step": st["vae_steps"], "elapsed": st["vae_elapsed"]})
        if os.path.exists(os.path.join(a.out, "latents.pt")):
            os.remove(os.path.join(a.out, "latents.pt"))
    if st["stage"] == "vae":
        budget = a.vae_minutes * 60
        last_ck, agg, t_log = time.time(), [], time.time()
        while st["elapsed"] < budget and st["step"] < a.vae_max_steps:
            tuner.before()
            t0 = time.time()
            lr = lr_at(st["elapsed"] / budget, st["step"], a.vae_lr, 50)
            for g in vopt.param_groups:
                g["lr"] = lr
            crops = st["elapsed"] / budget < a.vae_crop_frac
            if crops:  # cheap phase: random 32x32 crops, 2x batch
                xb = data.batch(rng, 2 * a.vae_batch)[0]
                oy, ox = rng.randint(0, 33, len(xb)), rng.randint(0, 33, len(xb))
                x = torch.from_numpy(np.stack([im[:, y:y + 32, x_:x_ + 32] for im, y, x_ in zip(xb, oy, ox)]))
            else:
                x = torch.from_numpy(data.batch(rng, a.vae_batch)[0])
            x = x.to(dev)
            loss, parts = vae_loss(vae, x, a.kl_weight)
            vopt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            vopt.step()
            st["step"] += 1
            st["elapsed"] += (SIM_SECONDS["vae_step_crops" if crops else "vae_step"] if a.sim_clock
                              else time.time() - t0)
            tuner.after(time.time() - t0)
            agg.append([loss.item()] + list(parts.values()))
            if st["step"] % 25 == 0:
                m = np.mean(agg, axis=0)
                agg = []
                run.loss("vae", st["step"], st["elapsed"], loss=m[0], l1=m[1], mse=m[2], edge=m[3], kl=m[4])
                run.log(f"vae step {st['step']} {st['elapsed']:.0f}/{budget:.0f}s loss {m[0]:.4f} l1 {m[1]:.4f} "
                        f"mse {m[2]:.5f} edge {m[3]:.4f} kl {m[4]:.1f} lr {lr:.2e} "
                        f"{(time.time() - t_log) / 25:.2f}s/step threads {tuner.best}")
                t_log = time.time()
            if time.time() - last_ck > a.ckpt_minutes * 60:
                save_ckpt(ck, snapshot({"vopt": vopt.state_dict()}))
                last_ck = time.time()
        vae.eval()
        info = rescale_vae(vae, rng, target_std=a.latent_std)
        run.log(f"vae done after {st['step']} steps; rescale {json.dumps(info)}")
        ceil = vae_ceiling(vae)
        info["heldout_recon_accuracy"] = ceil.tolist()
        run.log(f"vae reconstruction of rendered held-out items scores colour {ceil[0]:.3f} shape {ceil[1]:.3f} "
                f"position {ceil[2]:.3f}")
        st.update({"stage": "unet", "vae_steps": st["step"], "vae_elapsed": st["elapsed"], "vae_rescale": info,
                   "step": 0, "elapsed": 0.0})
        save_ckpt(ck, snapshot({}))
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)

    # ---------------- stage 2: UNet + CLIP
    ema_clip, ema_unet = copy.deepcopy(clip).eval(), copy.deepcopy(unet).eval()
    if st["stage"] in ("unet", "done") and "unet" in st:
        clip.load_state_dict(st["clip"])
        unet.load_state_dict(st["unet"])
        ema_clip.load_state_dict(st["ema_clip"])
        ema_unet.load_state_dict(st["ema_unet"])
    if st["stage"] == "done" and a.unet_minutes * 60 > st.get("unet_elapsed", 0) + 30:
        # a larger --unet-minutes than the finished run used: continue training (the cosine LR schedule
        # restarts from the new progress fraction)
        st["stage"] = "unet"
        run.log(f"extending the UNet stage from {st['elapsed']:.0f}s to {a.unet_minutes * 60:.0f}s")
    ac = sampling.AC
    tok_cache = {}

    def ids_of(caps):
        out = []
        for c in caps:
            if c not in tok_cache:
                tok_cache[c] = tok.encode_sd1(c)
            out.append(tok_cache[c])
        return torch.tensor(out, device=dev)

    cache, token_rows = None, None
    if st["stage"] == "unet":
        cache_path = os.path.join(a.out, "latents.pt")
        if os.path.exists(cache_path):
            cache = load(cache_path)
            if "cover" not in cache and a.obj_weight > 0 and not peer:
                tc = time.time()
                add_cover(cache)
                torch.save(cache, cache_path)
                run.log(f"object covers of {len(cache['captions'])} cached latents from their captions' boxes "
                        f"in {time.time() - tc:.0f}s")
        else:
            tc = time.time()
            set_threads(a.threads)  # large batches: both cores pay off here
            cache = build_latent_cache(vae, rng, a.cache_images)
            torch.save(cache, cache_path)
            st["cache_seconds"] = time.time() - tc
            run.log(f"encoded {a.cache_images} training images in {st['cache_seconds']:.0f}s")
        if st.get("token_rows") or "opt" not in st:  # not for a run whose optimiser state has the full table
            # CLIP's BPE splits at spaces before merging, so the captions' tokens are their words' tokens
            words = sorted({w for c in set(cache["captions"]) for w in c.split()})
            token_rows = UsedTokenRows(clip.embeddings.token_embedding, [i for w in words for i in tok.encode_sd1(w)])
            st["token_rows"] = True
            run.log(f"training {len(token_rows.ids)} of {clip.embeddings.token_embedding.num_embeddings} "
                    f"token-embedding rows (the captions' tokens)")
    params, opt = unet_stage_optimizer(unet, clip, token_rows, a.unet_lr)
    text_params = [p for p in clip.parameters() if p.requires_grad] + ([token_rows.rows] if token_rows else [])
    # detached views share the weights' storage, so the in-place optimiser steps reach them: made once
    fine_as_constants = ({n: p.detach() for n, p in unet.named_parameters() if n.startswith(FINE_LEVEL)}
                         if a.zero_scope == "coarse" else None)
    if "opt" in st:
        opt.load_state_dict(st["opt"])
    opt_zero = None
    if a.split_adam:  # weight decay is the ordinary optimiser's alone, so it is not applied twice
        _, opt_zero = unet_stage_optimizer(unet, clip, token_rows, a.unet_lr)
        for g in opt_zero.param_groups:
            g["weight_decay"] = 0.0
        if "opt_zero" in st:
            opt_zero.load_state_dict(st["opt_zero"])

    def stage_weights():
        """What a UNet-stage checkpoint holds besides the bookkeeping."""
        d = {"clip": cpu_state(clip.state_dict()), "unet": cpu_state(unet.state_dict()),
             "ema_clip": cpu_state(ema_clip.state_dict()), "ema_unet": cpu_state(ema_unet.state_dict()),
             "opt": opt.state_dict()}
        if opt_zero is not None:
            d["opt_zero"] = opt_zero.state_dict()
        return d

    if st["stage"] == "unet":
        n_cache = len(cache["captions"])
        cache_dev = {k: cache[k].to(dev) for k in ("mean", "std", "cover") if k in cache}
        cache_dev["mean"], cache_dev["std"] = cache_dev["mean"].float(), cache_dev["std"].float()
        ac = ac.to(dev)
        budget = a.unet_minutes * 60
        if not peer and st.get("unet_budget_s") not in (None, budget):  # the cosine schedule was stretched
            st["notes"] = (st.get("notes") or "") + (f"{BUDGET_CHANGED} from {st['unet_budget_s'] / 60:g} to "
                                                     f"{a.unet_minutes:g} min at step {st['step']}; ")
            if a.rebase_phase_at is not None and "shape_phase_at" in st:
                # a started phase keeps its fraction of the old budget, which on a longer one can lie after the
                # resume point and run pre-phase (zero-signal) steps again; the peer loads this from the checkpoint
                st["notes"] += (f"the shape phase's start moved from {st['shape_phase_at']:.3f} to "
                                f"{a.rebase_phase_at:g} of the new budget; ")
                st["shape_phase_at"] = a.rebase_phase_at
        st["unet_budget_s"] = budget
        world = max(1, a.procs)
        if world > 1:
            if not peer:
                save_ckpt(ck, snapshot(stage_weights()))
                peer_proc = data_parallel.spawn_peer(a.out, sys.argv[1:])
            set_threads(1)
            data_parallel.join(a.out, a.rank, world)
            data_parallel.broadcast_modules(clip, unet)
            if token_rows:
                token_rows.reload()
            if peer:  # its own items: a stream that differs from rank 0's and from its earlier sessions
                rng = np.random.RandomState(1000003 + st["step"] + 7919 * a.seed)
                torch.manual_seed(1000003 + st["step"] + 7919 * a.seed)
            run.log(f"UNet stage on {world} data-parallel processes, {a.unet_batch // world} items each per step")
        last_ck, last_ev, agg, t_log = time.time(), st["elapsed"], [], time.time()
        last_elapsed0 = st["elapsed"]  # a peer's view of rank 0's clock, for the zero-signal schedule
        text_rows = None  # set once the text encoder is frozen
        # where the shape phase starts (fraction of the budget): every rank decides a step by the value rank 0
        # sent in the previous step's all-reduce, so the phase and the text freeze begin on the same step
        phase_at = st.get("shape_phase_at", a.shape_phase_at)
        phase_at_pending = phase_at
        last_check = st["elapsed"]
        while world > 1 or st["elapsed"] < budget:  # data parallel: the all-reduce decides when to stop
            if world == 1:
                tuner.before()
            clock = last_elapsed0 if world > 1 else st["elapsed"]  # the same number on every rank
            shaping = clock / budget >= phase_at
            if text_rows is None and (clock >= a.freeze_text_at * budget or (a.freeze_text_with_phase and shaping)):
                tf = time.time()
                clip.requires_grad_(False)
                if token_rows:
                    token_rows.rows.requires_grad_(False)
                text_rows = caption_contexts(clip, ids_of, cache["captions"], a.rank, world)
                params = [p for p in params if p.requires_grad]
                if not peer:  # export takes the EMA text encoder: make it the frozen one the UNet now trains on
                    ema_clip.load_state_dict(clip.state_dict())
                    # part of the stage's cost: the budget must include it
                    st["elapsed"] += SIM_SECONDS["contexts"] if a.sim_clock else time.time() - tf
                    run.log(f"text encoder frozen at step {st['step']}; contexts of {len(text_rows[1])} captions "
                            f"in {time.time() - tf:.0f}s")
            t0 = time.time()
            per_rank = (a.shape_phase_batch if shaping and a.shape_phase_batch else a.unet_batch) // world
            repeats = (a.shape_phase_item_repeats if shaping and a.shape_phase_item_repeats else a.item_repeats)
            if per_rank % repeats:
                raise SystemExit(f"items per process ({per_rank}) must be a multiple of the item repeats ({repeats})")
            drawn = rng.randint(0, n_cache, per_rank // repeats)
            drawn_caps = ["" if rng.rand() < 0.1 else cache["captions"][i] for i in drawn.tolist()]
            # tiled, not interleaved: the zero-signal items (the first rows) stay distinct entries
            idx, caps = torch.from_numpy(np.tile(drawn, repeats)).to(dev), drawn_caps * repeats
            mean, std = cache_dev["mean"][idx], cache_dev["std"][idx]
            z = (mean + std * torch.randn_like(mean)) * CONFIG["scale_factor"]
            t = torch.randint(0, 1000, (z.shape[0],), device=dev)
            if a.t_band_frac > 0:
                in_band = torch.rand(z.shape[0], device=dev) < a.t_band_frac
                t = torch.where(in_band, torch.randint(a.t_band[0], a.t_band[1], (z.shape[0],), device=dev), t)
            noise = torch.randn_like(z)
            keep = torch.ones(z.shape[0], 1, 1, 1, device=dev)
            progress = min(1.0, clock / budget)
            zf = a.shape_phase_zero_frac if shaping else a.zero_frac + (a.zero_frac_end - a.zero_frac) * progress
            n_zero = int(round(per_rank * zf))
            if shaping:
                t = torch.randint(a.shape_phase_band[0], a.shape_phase_band[1], (z.shape[0],), device=dev)
            if n_zero:  # pure noise at the first sampling step's level: position must come from the caption
                t[:n_zero] = 999
                keep[:n_zero] = 0.0
            abar = ac[t].view(-1, 1, 1, 1)
            xt = keep * abar.sqrt() * z + (1 - abar).sqrt() * noise
            # the noise that explains xt given the clean latent: for a signal-free item it is not the input
            # noise (that target would be the input itself, learnable without the caption) but the noise
            # whose removal lands on z, so those items teach the layout the caption implies
            z_target = z
            if n_zero and a.zero_target_blur > 0:  # their target is E[z | caption]: a sample's detail is noise
                z_target = z.clone()
                z_target[:n_zero] = gaussian_blur(z[:n_zero], a.zero_target_blur)
            eps_target = (xt - abar.sqrt() * z_target) / (1 - abar).sqrt()

            pixel_w = snr_w = None  # per-pixel and per-item loss weights of the whole batch
            if a.obj_weight > 0:  # the object's latent pixels carry its shape but are a tenth of the loss
                k_ordinary = 0.0 if shaping else a.obj_weight if a.obj_weight_ordinary is None else a.obj_weight_ordinary
                k = torch.full((per_rank, 1, 1), k_ordinary, device=dev)
                k[:n_zero] = a.obj_weight
                w = 1 + k * cache_dev["cover"][idx].float()
                pixel_w = (w / w.mean(dim=[1, 2], keepdim=True))[:, None]
            if a.min_snr > 0:  # min-SNR-gamma (Hang et al. 2023): the nearly clean steps, which decide no
                snr = ac[t] / (1 - ac[t])  # layout, stop dominating the gradient; below the SNR floor the
                # weight 1/SNR makes it an x0 error, which the layout (and so position) dominates
                floor_ordinary = 0.0 if shaping else a.snr_floor if a.ordinary_snr_floor is None else a.ordinary_snr_floor
                floor = torch.full_like(snr, floor_ordinary)
                floor[:n_zero] = a.snr_floor
                snr_w = torch.maximum(torch.clamp(snr, max=a.min_snr), floor)

            def item_losses(sel, coarse_only=False):
                """Per-item weighted losses of the rows `sel` (a forward of their own, so that each objective's
                gradient can be taken alone); coarse_only: the fine level's weights enter as constants."""
                caps_sel = caps[sel]
                distinct = sorted(set(caps_sel))  # each caption through the text encoder once per step
                row_of = {c: i for i, c in enumerate(distinct)}
                if text_rows is None:
                    rows = clip(ids_of(distinct))
                else:
                    rows = text_rows[0][torch.tensor([text_rows[1][c] for c in distinct], device=dev)]
                context = rows[torch.tensor([row_of[c] for c in caps_sel], device=dev)]
                if coarse_only:
                    pred = functional_call(unet, fine_as_constants, (xt[sel], t[sel].float(), context))
                else:
                    pred = unet(xt[sel], t[sel].float(), context)
                err = (pred - eps_target[sel]) ** 2
                if pixel_w is not None:
                    err = err * pixel_w[sel]
                per_item = err.mean(dim=[1, 2, 3])
                return per_item if snr_w is None else per_item * snr_w[sel] / snr[sel]

            split = opt_zero is not None and 0 < n_zero < per_rank
            if not split:
                if a.zero_scope == "coarse" and 0 < n_zero < per_rank:
                    loss = (item_losses(slice(n_zero, None)).sum()
                            + item_losses(slice(0, n_zero), coarse_only=True).sum()) / per_rank
                else:
                    loss = item_losses(slice(None)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_sets = [[p.grad for p in params]]
            else:  # each objective's gradient alone, for its own AdamW state
                grad_sets = []
                loss = 0.0
                for sel in (slice(n_zero, None), slice(0, n_zero)):  # ordinary, then zero-signal
                    part = item_losses(sel).mean()
                    opt.zero_grad(set_to_none=True)
                    part.backward()
                    grad_sets.append([p.grad for p in params])
                    loss = loss + float(part) * len(caps[sel]) / per_rank
                loss = torch.tensor(loss)
            if world > 1:  # rank 0's elapsed time rides along, so every rank stops at the same step
                grad_sets, (loss_sum, elapsed0, phase_at) = data_parallel.average_grad_sets(
                    params, grad_sets, [float(loss), 0.0 if peer else st["elapsed"], 0.0 if peer else phase_at_pending])
                last_elapsed0 = elapsed0
                if elapsed0 >= budget:
                    break
                loss = torch.tensor(loss_sum / world)
            clock_now = (elapsed0 if world > 1 else st["elapsed"]) / budget  # rank 0's: every rank's lr is the same
            lr = lr_at(clock_now, st["step"], a.unet_lr, 200)
            if world == 1:
                phase_at = phase_at_pending
            if a.shape_phase_lr and clock_now >= phase_at:  # a cosine of its own over the phase
                lr = lr_at((clock_now - phase_at) / max(1e-9, 1 - phase_at), st["step"], a.shape_phase_lr, 1)
            norms = []
            for o, grads, scale in zip((opt, opt_zero), grad_sets, (1.0, a.zero_lr_scale)):
                for p, g in zip(params, grads):
                    p.grad = g
                for g in o.param_groups:  # every rank follows rank 0's clock, so the updates stay identical
                    g["lr"] = lr * scale
                norms.append(torch.nn.utils.clip_grad_norm_(params, 1.0))
                damp_text = a.shape_phase_text_scale != 1.0 and shaping and text_rows is None
                if damp_text:
                    before = [p.detach().clone() for p in text_params]
                o.step()
                if damp_text:  # the same AdamW step, shortened for the text encoder (its param groups stay shared)
                    with torch.no_grad():
                        for p, b in zip(text_params, before):
                            p.copy_(b + a.shape_phase_text_scale * (p - b))
            gn = norms[0]
            if token_rows:
                token_rows.write_back()
            st["step"] += 1
            if peer:  # rank 0 alone keeps the clock, the averages and the records
                continue
            decay = min(0.995, (1 + st["step"]) / (10 + st["step"]))
            ema_update(ema_unet, unet, decay)
            ema_update(ema_clip, clip, decay)
            if a.sim_clock:
                st["elapsed"] += SIM_SECONDS["unet_step" if text_rows is None else "unet_step_frozen_text"]
            else:
                st["elapsed"] += time.time() - t0
            if world == 1:
                tuner.after(time.time() - t0)
            agg.append([loss.item(), float(gn)])
            if st["step"] % 20 == 0:
                m = np.mean(agg, axis=0)
                agg = []
                run.loss("unet", st["step"], st["elapsed"], loss=m[0], grad_norm=m[1])
                run.log(f"unet step {st['step']} {st['elapsed']:.0f}/{budget:.0f}s loss {m[0]:.4f} "
                        f"gnorm {m[1]:.3f} lr {lr:.2e} {(time.time() - t_log) / 20:.2f}s/step "
                        + (f"procs {world}" if world > 1 else f"threads {tuner.best}"))
                t_log = time.time()
            if (a.shape_phase_when_placed and phase_at_pending > st["elapsed"] / budget >= a.shape_phase_check_from
                    and st["elapsed"] - last_check >= a.shape_phase_check_minutes * 60):
                te = time.time()
                acc = quick_eval(ema_clip, ema_unet, vae, tok)
                # the checks are part of the recipe: the budget pays for them
                st["elapsed"] += SIM_SECONDS["position_check"] if a.sim_clock else time.time() - te
                last_check = st["elapsed"]
                st["history"].append({"step": st["step"], "elapsed": st["elapsed"], "acc": acc.tolist(), "check": 1})
                placed = acc[2] >= a.shape_phase_when_placed
                if placed:
                    phase_at_pending = st["elapsed"] / budget
                    st["shape_phase_at"] = phase_at_pending
                    st["notes"] = (st.get("notes") or "") + (
                        f"the shape phase started at step {st['step']} ({100 * phase_at_pending:.1f}% of the UNet "
                        f"budget), when the position check read {acc[2]:.3f}; ")
                run.log(f"position check step {st['step']}: colour {acc[0]:.3f} shape {acc[1]:.3f} position "
                        f"{acc[2]:.3f} ({time.time() - te:.0f}s)" + (" -> shape phase" if placed else ""))
            if st["elapsed"] - last_ev > a.eval_minutes * 60 or st["elapsed"] >= budget:
                te = time.time()
                acc = quick_eval(ema_clip, ema_unet, vae, tok, limit=a.eval_prompts)
                st["history"].append({"step": st["step"], "elapsed": st["elapsed"], "acc": acc.tolist()})
                run.log(f"eval step {st['step']}: colour {acc[0]:.3f} shape {acc[1]:.3f} position {acc[2]:.3f} "
                        f"(euler 20, cfg 6, {a.eval_prompts or 32} held-out prompts, EMA; {time.time() - te:.0f}s)")
                last_ev = st["elapsed"]
            if time.time() - last_ck > a.ckpt_minutes * 60:
                save_ckpt(ck, snapshot(stage_weights()))
                last_ck = time.time()
        if world > 1:
            data_parallel.leave()
            if peer:
                return
            peer_proc.wait()
        st.update({"stage": "done", "unet_steps": st["step"], "unet_elapsed": st["elapsed"]})
        if a.text_phase_minutes > 0:  # the next start of this command runs the text phase
            st["text_phase"], st["text_phase_from_s"] = True, st["elapsed"]
            if phase_at < 1 and "shape_phase_at" not in st:  # begun at --shape-phase-at: the rebase needs it
                st["shape_phase_at"] = phase_at
        snap = snapshot(stage_weights())
        save_ckpt(ck, snap)
        final = {"config": CONFIG, "clip": cpu_state(ema_clip.state_dict()),
                 "unet": cpu_state(ema_unet.state_dict()), "vae": cpu_state(vae.state_dict()),
                 "train": dict({k: snap.get(k) for k in ("vae_steps", "vae_elapsed", "vae_rescale", "unet_steps",
                                                          "unet_elapsed", "wall_used", "history", "notes")},
                               wall_total_s=time.time() - st["wall_start"]),
                 "args": vars(a_given)}
        torch.save(final, os.path.join(a.out, "final.pt"))
        run.log(f"training done: wall time used {snap['wall_used'] / 60:.1f} min; wrote final.pt")
        if a.text_phase_minutes > 0:
            run.log(f"starting the text phase ({a.text_phase_minutes:g} min)")
            sys.exit(subprocess.run([sys.executable, os.path.abspath(__file__)] + sys.argv[1:]).returncode)
    if not a.no_finish:
        run.log("running train/finish.py")
        subprocess.run([sys.executable, os.path.join(HERE, "finish.py"), "--run", a.out], check=False)


if __name__ == "__main__":
    main()
