"""PyTorch reference generation from the EXPORTED f16 weights (upcast to f32), for the C++ runtime's e2e check.

    python3 train/make_reference.py [--model models/sd-native-tiny.safetensors]
        -> test/fixtures/small_model_reference.safetensors (+ .json)

Prompt "a red circle on a white background", negative "", 64x64, k-diffusion Euler, 8 steps
(CompVisDenoiser.get_sigmas(8) + 0), CFG 7.0 as ONE UNet batch of 2 [uncond, cond], denoised = x - sigma*eps,
den = den_u + (den_c - den_u)*7, c_in = 1/sqrt(sigma^2+1), t = sigma_to_t(sigma) (log-sigma interpolation),
noise = torch.randn([1,4,8,8], generator=torch.Generator().manual_seed(42)), x0 = noise*sigmas[0],
image = VAE decode(latent / 0.18215) raw.
"""
import argparse
import hashlib
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from threads import set_threads  # noqa: E402
import sampling  # noqa: E402
import st_io  # noqa: E402
from export import DEFAULT_OUT, load_exported  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402

FIX = os.path.join(HERE, "..", "test", "fixtures", "small_model_reference.safetensors")
PROMPT, NEGATIVE, STEPS, CFG, SEED = "a red circle on a white background", "", 8, 7.0, 42


@torch.no_grad()
def make(model_path, out):
    set_threads(1)
    clip, unet, vae, cfg = load_exported(model_path)
    tok = ClipTokenizer()
    ids_c = torch.tensor([tok.encode_sd1(PROMPT)])
    ids_u = torch.tensor([tok.encode_sd1(NEGATIVE)])
    ctx_c, ctx_u = clip(ids_c), clip(ids_u)
    sig = sampling.get_sigmas(STEPS)
    noise = torch.randn([1, 4, 8, 8], generator=torch.Generator().manual_seed(SEED))
    x = noise * sig[0]
    den_fn = sampling.CFGDenoiser(unet, ctx_c, ctx_u, CFG)
    xs, dens, ts = [], [], []
    for i in range(STEPS):
        s = sig[i]
        xs.append(x)
        ts.append(sampling.sigma_to_t(s.reshape(1)))
        den = den_fn(x, s)
        dens.append(den)
        x = x + (x - den) / s * (sig[i + 1] - s)
    img = vae.decode(x / sampling.SCALE_FACTOR)
    t = {
        "input.token_ids_cond": ids_c, "input.token_ids_uncond": ids_u, "input.noise": noise,
        "input.sigmas": sig, "input.cfg_scale": torch.tensor([CFG]),
        "output.context_cond": ctx_c, "output.context_uncond": ctx_u, "output.eps_step0": den_fn.calls[0],
        "output.latent": x, "output.image": img,
        "trajectory.x": torch.cat(xs), "trajectory.denoised": torch.cat(dens), "trajectory.t": torch.cat(ts),
        "trajectory.eps": torch.stack(den_fn.calls),
    }
    t = {k: (v.to(torch.int64) if k.startswith("input.token_ids") else v.float()).contiguous() for k, v in t.items()}
    st_io.save(out, t, {"prompt": PROMPT, "negative_prompt": NEGATIVE})
    model_sha = hashlib.sha256(open(model_path, "rb").read()).hexdigest()
    desc = {
        "description": "PyTorch reference generation with the shipped sd-native tiny model (exported f16 weights "
                       "upcast to f32), produced by train/make_reference.py. The C++ runtime must reproduce "
                       "output.latent to rel-L2 <= 1e-3.",
        "model": os.path.relpath(model_path, os.path.join(HERE, "..")), "model_sha256": model_sha,
        "prompt": PROMPT, "negative_prompt": NEGATIVE, "width": 64, "height": 64, "steps": STEPS,
        "sampler": "k-diffusion sample_euler (s_churn 0), CompVisDenoiser eps", "cfg_scale": CFG, "seed": SEED,
        "pipeline": [
            "tokens: SD1 layout [49406, ids..., 49407] padded with 49407 to 77",
            "context = CLIP last_hidden_state (final_layer_norm applied), [1,77,128]",
            "sigmas = get_sigmas(8): t = linspace(999, 0, 8) (float32), sigma(t) by log-sigma interpolation over the "
            "1000 SD1 sigmas sqrt((1-acp)/acp) (betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2, acp float32), "
            "then 0 appended",
            "noise = torch.randn([1,4,8,8], generator=torch.Generator().manual_seed(42)); x = noise * sigmas[0]",
            "per step i: c_in = 1/sqrt(sigma^2+1); t = sigma_to_t(sigma) (k-diffusion interpolation, fractional); "
            "eps = UNet(cat[x,x]*c_in, [t,t], cat[context_uncond, context_cond]) (ONE batch of 2, uncond first); "
            "den = cat[x,x] - sigma*eps; d = den_u + (den_c - den_u)*7.0; x = x + (x - d)/sigma*(sigma_next - sigma)",
            "image = VAE decode(latent / 0.18215) (post_quant_conv then decoder), raw, not clamped",
        ],
        "keys": {
            "input.token_ids_cond": "I64 [1,77]", "input.token_ids_uncond": "I64 [1,77] ('' = [49406, 49407 x 76])",
            "input.noise": "[1,4,8,8]", "input.sigmas": "[9] (8 sigmas + 0)", "input.cfg_scale": "[1] 7.0",
            "output.context_cond": "[1,77,128]", "output.context_uncond": "[1,77,128]",
            "output.eps_step0": "[2,4,8,8] UNet output at step 0 (row 0 uncond, row 1 cond)",
            "output.latent": "[1,4,8,8] final latent (scaled latent space, before /0.18215)",
            "output.image": "[1,3,64,64] decode(latent/0.18215), roughly [-1,1]; map (x+1)/2, clamp",
            "trajectory.x": "[8,4,8,8] x before step i",
            "trajectory.denoised": "[8,4,8,8] CFG-combined denoised of step i",
            "trajectory.t": "[8] UNet timestep of step i", "trajectory.eps": "[8,2,4,8,8] UNet outputs per step",
        },
        "stats": {"latent_std": float(x.std()), "image_min": float(img.min()), "image_max": float(img.max())},
        "dtype": "all F32 except token ids (I64)",
    }
    json.dump(desc, open(os.path.splitext(out)[0] + ".json", "w"), indent=1)
    return desc


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_OUT)
    ap.add_argument("--out", default=FIX)
    a = ap.parse_args()
    d = make(a.model, a.out)
    print(json.dumps(d["stats"]))
