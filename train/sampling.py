"""SD1 schedule, k-diffusion style sigmas and samplers, CFG denoiser (written from the k-diffusion maths).

Schedule: DDPM scaled-linear betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2 (float64), alphas_cumprod
stored float32 (as CompVis registers it), sigmas = sqrt((1 - ac) / ac) (CompVisDenoiser).
"""
import math

import numpy as np
import torch

SCALE_FACTOR = 0.18215


def alphas_cumprod():
    betas = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), 1000, dtype=np.float64) ** 2
    return torch.tensor(np.cumprod(1.0 - betas), dtype=torch.float32)


AC = alphas_cumprod()
SIGMAS = ((1 - AC) / AC) ** 0.5
LOG_SIGMAS = SIGMAS.log()


def t_to_sigma(t):
    t = t.float()
    lo, hi, w = t.floor().long(), t.ceil().long(), t.frac()
    return ((1 - w) * LOG_SIGMAS[lo] + w * LOG_SIGMAS[hi]).exp()


def sigma_to_t(sigma):
    ls = sigma.log()
    dists = ls - LOG_SIGMAS[:, None]
    lo = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=LOG_SIGMAS.shape[0] - 2)
    hi = lo + 1
    w = ((LOG_SIGMAS[lo] - ls) / (LOG_SIGMAS[lo] - LOG_SIGMAS[hi])).clamp(0, 1)
    return ((1 - w) * lo + w * hi).view(sigma.shape)


def get_sigmas(n):
    """CompVisDenoiser.get_sigmas(n): t = linspace(999, 0, n), log-sigma interpolation, then append 0."""
    return torch.cat([t_to_sigma(torch.linspace(999, 0, n)), torch.zeros(1)])


def ddim_sigmas(n):
    """Sigmas at the CompVis DDIM 'uniform' timesteps (range(0, 1000, 1000 // n) + 1, descending), then 0.
    Euler on these sigmas is DDIM with eta = 0."""
    ts = torch.arange(0, 1000, 1000 // n)[:n] + 1
    return torch.cat([SIGMAS[ts.flip(0)], torch.zeros(1)])


class CFGDenoiser:
    """denoised(x, sigma) with classifier-free guidance. x [N,4,h,w], cond [N,77,C], uncond [1 or N,77,C]:
    ONE UNet batch of 2N ordered [uncond x N, cond x N] (N = 1: [uncond, cond], as A1111/k-diffusion do)."""

    def __init__(self, unet, cond, uncond, scale):
        self.unet, self.scale = unet, scale
        self.ctx = torch.cat([uncond.expand(cond.shape[0], -1, -1), cond])
        self.calls = []

    def __call__(self, x, sigma):
        s = torch.as_tensor(sigma, dtype=torch.float32).reshape(1)
        t = sigma_to_t(s).to(x.device)  # the schedule's tables stay on the CPU
        s = s.to(x.device)
        c_in = 1 / (s ** 2 + 1) ** 0.5
        xx = torch.cat([x, x])
        eps = self.unet(xx * c_in, t.expand(xx.shape[0]), self.ctx)
        self.calls.append(eps)
        den = xx - s * eps
        du, dc = den.chunk(2)
        return du + (dc - du) * self.scale


def sample_euler(model, x, sigmas, noise=None):
    for i in range(len(sigmas) - 1):
        d = (x - model(x, sigmas[i])) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


def sample_euler_ancestral(model, x, sigmas, noise):
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        s, sn = sigmas[i], sigmas[i + 1]
        up = min(sn, (sn ** 2 * (s ** 2 - sn ** 2) / s ** 2) ** 0.5)
        down = (sn ** 2 - up ** 2) ** 0.5
        x = x + (x - den) / s * (down - s)
        if sn > 0:
            x = x + noise(x) * up
    return x


def sample_heun(model, x, sigmas, noise=None):
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        d = (x - model(x, s)) / s
        if sn == 0:
            x = x + d * (sn - s)
        else:
            x2 = x + d * (sn - s)
            d2 = (x2 - model(x2, sn)) / sn
            x = x + (d + d2) / 2 * (sn - s)
    return x


def sample_dpmpp_2m(model, x, sigmas, noise=None):
    old = None
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        s, sn = sigmas[i], sigmas[i + 1]
        if sn == 0:
            x = den
        else:
            h = -math.log(sn) + math.log(s)
            if old is None:
                dd = den
            else:
                r = (-math.log(s) + math.log(sigmas[i - 1])) / h
                dd = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old
            x = (sn / s) * x - math.expm1(-h) * dd
        old = den
    return x


SAMPLERS = {"euler": (sample_euler, get_sigmas), "euler_a": (sample_euler_ancestral, get_sigmas),
            "heun": (sample_heun, get_sigmas), "dpmpp_2m": (sample_dpmpp_2m, get_sigmas),
            "ddim": (sample_euler, ddim_sigmas)}


@torch.no_grad()
def generate(clip, unet, vae, tok, prompts, seeds, sampler="euler", steps=20, cfg=6.0, negative="", batch=16):
    """Returns uint8 images [N, 64, 64, 3]. Image i starts from torch.Generator().manual_seed(seeds[i])
    randn [1,4,8,8] (ancestral noise continues from the same generator); prompts run in batches."""
    fn, sched = SAMPLERS[sampler]
    sig = [float(v) for v in sched(steps)]
    dev = next(unet.parameters()).device  # noise is drawn on the CPU either way: the same images on any device
    un = clip(torch.tensor([tok.encode_sd1(negative)], device=dev))
    out = []
    for b in range(0, len(prompts), batch):
        ps, ss = prompts[b:b + batch], seeds[b:b + batch]
        gens = [torch.Generator().manual_seed(s) for s in ss]
        x = torch.cat([torch.randn(1, 4, 8, 8, generator=g) for g in gens]).to(dev) * sig[0]
        cond = clip(torch.tensor([tok.encode_sd1(p) for p in ps], device=dev))
        model = CFGDenoiser(unet, cond, un, cfg)

        def noise(y):
            return torch.cat([torch.randn(1, *y.shape[1:], generator=g) for g in gens]).to(y.device)
        lat = fn(model, x, sig, noise)
        img = vae.decode(lat / SCALE_FACTOR)
        out.append(((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)
