"""One UNet step's items and their loss. Items are cached latents with fresh posterior and diffusion noise;
a fraction of them (the zero-signal items) are drawn at t = 999 with the signal removed, so that the layout
must come from the caption; in the shape phase every item keeps its signal and t stays in the phase's band."""
import numpy as np
import torch

from tiny_config import CONFIG


class Batch:
    """xt, t, eps_target [N,...]; caps (N captions); n_zero: the first n_zero rows are zero-signal items;
    pixel_w [N,1,h,w] and snr_w, snr [N]: the loss weights (None: off)."""


def draw(rng, u, per_rank, shaping, progress):
    """Draw one step's items for this process. u: the UNet stage (its cache, schedule, arguments, device)."""
    a, dev, cache = u.a, u.dev, u.cache
    drawn = rng.randint(0, len(cache["captions"]), per_rank)
    b = Batch()
    b.caps = ["" if rng.rand() < 0.1 else cache["captions"][i] for i in drawn.tolist()]
    idx = torch.from_numpy(drawn).to(dev)
    mean, std = u.cache_dev["mean"][idx], u.cache_dev["std"][idx]
    z = (mean + std * torch.randn_like(mean)) * CONFIG["scale_factor"]
    t = torch.randint(0, 1000, (z.shape[0],), device=dev)
    noise = torch.randn_like(z)
    keep = torch.ones(z.shape[0], 1, 1, 1, device=dev)
    zf = 0.0 if shaping else a.zero_frac + (a.zero_frac_end - a.zero_frac) * progress
    b.n_zero = n_zero = int(round(per_rank * zf))
    if shaping:
        t = torch.randint(a.shape_phase_band[0], a.shape_phase_band[1], (z.shape[0],), device=dev)
    if n_zero:  # pure noise at the first sampling step's level: position must come from the caption
        t[:n_zero] = 999
        keep[:n_zero] = 0.0
    abar = u.ac[t].view(-1, 1, 1, 1)
    b.xt = keep * abar.sqrt() * z + (1 - abar).sqrt() * noise
    b.t = t
    # the noise that explains xt given the clean latent: for a zero-signal item it is not the input noise (that
    # target would be the input itself, learnable without the caption) but the noise whose removal lands on z,
    # so those items teach the layout the caption implies
    b.eps_target = (b.xt - abar.sqrt() * z) / (1 - abar).sqrt()
    weights(b, u, idx, per_rank, shaping)
    return b


def weights(b, u, idx, per_rank, shaping):
    """The batch's per-pixel (object cover) and per-item (SNR) loss weights."""
    a, dev, ac, n_zero = u.a, u.dev, u.ac, b.n_zero
    b.pixel_w = b.snr_w = b.snr = None
    if a.obj_weight > 0:  # the object's latent pixels carry its shape but are a tenth of the loss
        k_ordinary = 0.0 if shaping else a.obj_weight if a.obj_weight_ordinary is None else a.obj_weight_ordinary
        k = torch.full((per_rank, 1, 1), k_ordinary, device=dev)
        k[:n_zero] = a.obj_weight
        w = 1 + k * u.cache_dev["cover"][idx].float()
        b.pixel_w = (w / w.mean(dim=[1, 2], keepdim=True))[:, None]
    if a.min_snr > 0:  # min-SNR-gamma (Hang et al. 2023): the nearly clean steps, which decide no layout, stop
        b.snr = snr = ac[b.t] / (1 - ac[b.t])  # dominating the gradient; below the SNR floor the weight 1/SNR
        # makes it an x0 error, which the layout (and so position) dominates
        floor_ordinary = 0.0 if shaping else a.snr_floor if a.ordinary_snr_floor is None else a.ordinary_snr_floor
        floor = torch.full_like(snr, floor_ordinary)
        floor[:n_zero] = a.snr_floor
        b.snr_w = torch.maximum(torch.clamp(snr, max=a.min_snr), floor)


def loss(u, b):
    """The batch's mean weighted eps MSE; each distinct caption goes through the text encoder once (or comes
    from the frozen encoder's table)."""
    distinct = sorted(set(b.caps))
    row_of = {c: i for i, c in enumerate(distinct)}
    if u.text_rows is None:
        rows = u.s.clip(u.ids_of(distinct))
    else:
        rows = u.text_rows[0][torch.tensor([u.text_rows[1][c] for c in distinct], device=u.dev)]
    context = rows[torch.tensor([row_of[c] for c in b.caps], device=u.dev)]
    pred = u.s.unet(b.xt, b.t.float(), context)
    err = (pred - b.eps_target) ** 2
    if b.pixel_w is not None:
        err = err * b.pixel_w
    per_item = err.mean(dim=[1, 2, 3])
    return (per_item if b.snr_w is None else per_item * b.snr_w / b.snr).mean()
