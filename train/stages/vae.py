"""Stage 1, the VAE: L1 + MSE (objects weighted x4) + edge L1 + a small KL, on random 32x32 crops first and then
whole images; then the exact latent rescale, and a check of what the UNet could reach through this VAE."""
import json
import math
import os
import time

import numpy as np
import torch

import data
import eval_metrics
from checkpoint import save_ckpt
from clock import charge, lr_at
from tiny_config import CONFIG

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    scale factor and sigmas."""
    dev = next(vae.parameters()).device
    m = torch.cat([vae.encode_moments(torch.from_numpy(data.batch(rng, 64)[0]).to(dev))[:, :4]
                   for _ in range(n // 64)])
    s = m.std().item()
    c = (target_std / CONFIG["scale_factor"]) / s
    x = torch.from_numpy(data.batch(rng, 8)[0]).to(dev)
    before = vae.decode(vae.encode_moments(x)[:, :4])
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


def reopen_if_longer(s):
    """A larger --vae-minutes before the UNet stage has begun re-opens the VAE stage (the latent rescale is an
    exact reparametrisation, so training simply continues and the rescale is redone after)."""
    a, st = s.a, s.st
    if s.peer or st["stage"] != "unet" or st["step"] != 0 or a.vae_minutes * 60 <= st["vae_elapsed"] + 30:
        return
    s.run.log(f"re-opening the VAE stage: {st['vae_elapsed']:.0f}s -> {a.vae_minutes * 60:.0f}s")
    ceil = (st.get("vae_rescale") or {}).get("heldout_recon_accuracy")
    st["notes"] = (st.get("notes") or "") + (
        f"the VAE stage was re-opened after {st['vae_steps']} steps / {st['vae_elapsed'] / 60:.1f} min "
        f"(held-out reconstruction check then: {ceil}) and ran to {a.vae_minutes:g} min; ")
    st.update({"stage": "vae", "step": st["vae_steps"], "elapsed": st["vae_elapsed"]})
    if os.path.exists(os.path.join(a.out, "latents.pt")):
        os.remove(os.path.join(a.out, "latents.pt"))


def vae_batch(rng, a, crops):
    """One step's images: random 32x32 crops of twice the batch in the cheap part of the stage, else whole."""
    if not crops:
        return torch.from_numpy(data.batch(rng, a.vae_batch)[0])
    xb = data.batch(rng, 2 * a.vae_batch)[0]
    oy, ox = rng.randint(0, 33, len(xb)), rng.randint(0, 33, len(xb))
    return torch.from_numpy(np.stack([im[:, y:y + 32, x_:x_ + 32] for im, y, x_ in zip(xb, oy, ox)]))


def train_vae(s):
    """The VAE stage, from where the run stands to its budget; ends with the rescale and the held-out check."""
    a, st, vae, run = s.a, s.st, s.vae, s.run
    budget = a.vae_minutes * 60
    last_ck, agg, t_log = time.time(), [], time.time()
    while st["elapsed"] < budget and st["step"] < a.vae_max_steps:
        s.tuner.before()
        t0 = time.time()
        lr = lr_at(st["elapsed"] / budget, st["step"], a.vae_lr, 50)
        for g in s.vopt.param_groups:
            g["lr"] = lr
        crops = st["elapsed"] / budget < a.vae_crop_frac
        x = vae_batch(s.rng, a, crops).to(s.dev)
        loss, parts = vae_loss(vae, x, a.kl_weight)
        s.vopt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        s.vopt.step()
        st["step"] += 1
        charge(st, a, "vae_step_crops" if crops else "vae_step", t0, time.time())
        s.tuner.after(time.time() - t0)
        agg.append([loss.item()] + list(parts.values()))
        if st["step"] % 25 == 0:
            m = np.mean(agg, axis=0)
            agg = []
            run.loss("vae", st["step"], st["elapsed"], loss=m[0], l1=m[1], mse=m[2], edge=m[3], kl=m[4])
            run.log(f"vae step {st['step']} {st['elapsed']:.0f}/{budget:.0f}s loss {m[0]:.4f} l1 {m[1]:.4f} "
                    f"mse {m[2]:.5f} edge {m[3]:.4f} kl {m[4]:.1f} lr {lr:.2e} "
                    f"{(time.time() - t_log) / 25:.2f}s/step threads {s.tuner.best}")
            t_log = time.time()
        if time.time() - last_ck > a.ckpt_minutes * 60:
            save_ckpt(s.ck, s.snapshot({"vopt": s.vopt.state_dict()}))
            last_ck = time.time()
    vae.eval()
    info = rescale_vae(vae, s.rng, target_std=a.latent_std)
    run.log(f"vae done after {st['step']} steps; rescale {json.dumps(info)}")
    ceil = vae_ceiling(vae)
    info["heldout_recon_accuracy"] = ceil.tolist()
    run.log(f"vae reconstruction of rendered held-out items scores colour {ceil[0]:.3f} shape {ceil[1]:.3f} "
            f"position {ceil[2]:.3f}")
    st.update({"stage": "unet", "vae_steps": st["step"], "vae_elapsed": st["elapsed"], "vae_rescale": info,
               "step": 0, "elapsed": 0.0})
    save_ckpt(s.ck, s.snapshot({}))
