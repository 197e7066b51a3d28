"""Evaluate the exported model (f16 weights upcast to f32) with the PyTorch samplers on the held-out prompts.

    python3 train/evaluate.py [--model models/sd-native-tiny.safetensors] [--samplers euler,heun,...]

Scores colour / shape / position per train/eval_spec.md for every held-out prompt x seed x sampler; writes
train/eval_results.json and the sample grid models/samples.png.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import eval_metrics  # noqa: E402
from threads import set_threads  # noqa: E402
import sampling  # noqa: E402
from export import DEFAULT_OUT, load_exported  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402

SHOWCASE = ["a red circle on a white background", "blue background with a large yellow star at the top",
            "a small green square on the left, black background", "a large purple ring in the centre on a white background"]


def grid(images, captions, path, cols=8, scale=2):
    tile, cap_h = 64 * scale, 34
    rows = (len(images) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * (tile + 4), rows * (tile + cap_h + 4)), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    for i, (im, cap) in enumerate(zip(images, captions)):
        x, y = (i % cols) * (tile + 4), (i // cols) * (tile + cap_h + 4)
        canvas.paste(Image.fromarray(im).resize((tile, tile), Image.NEAREST), (x + 2, y + 2))
        words, lines, cur = cap.split(), [], ""
        for w in words:
            if len(cur) + len(w) + 1 > 22:
                lines.append(cur)
                cur = w
            else:
                cur = (cur + " " + w).strip()
        lines.append(cur)
        for j, ln in enumerate(lines[:3]):
            d.text((x + 2, y + tile + 3 + j * 10), ln, fill=(0, 0, 0))
    canvas.save(path)


@torch.no_grad()
def vae_quality(vae, n=64):
    rng = np.random.RandomState(2024)
    x = torch.from_numpy(data.batch(rng, n)[0])
    mom = vae.encode_moments(x)
    rec = vae.decode(mom[:, :4]).clamp(-1, 1)
    mse = ((rec - x) ** 2).mean(dim=[1, 2, 3]) / 4  # in [0,1] units
    return {"psnr_db": float((10 * torch.log10(1 / mse)).mean()), "l1_0_255": float((rec - x).abs().mean() * 127.5),
            "scaled_latent_std": float((mom[:, :4] * sampling.SCALE_FACTOR).std()),
            "scaled_latent_mean": float((mom[:, :4] * sampling.SCALE_FACTOR).mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_OUT)
    ap.add_argument("--samplers", default="euler,euler_a,heun,dpmpp_2m,ddim")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=6.0)
    ap.add_argument("--out", default=os.path.join(HERE, "eval_results.json"))
    ap.add_argument("--grid", default=os.path.join(HERE, "..", "models", "samples.png"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    set_threads(a.threads)
    clip, unet, vae, cfg = load_exported(a.model)
    tok = ClipTokenizer()
    spec = json.load(open(os.path.join(HERE, "heldout_prompts.json")))
    items = spec["prompts"]
    seeds = [int(s) for s in a.seeds.split(",")]
    res = {"model": os.path.relpath(a.model, os.path.join(HERE, "..")), "steps": a.steps, "cfg": a.cfg,
           "seeds": seeds, "n_prompts": len(items), "vae": vae_quality(vae), "samplers": {}}
    first = None
    for name in a.samplers.split(","):
        t0 = time.time()
        acc, per = np.zeros(3), []
        for seed in seeds:
            imgs = sampling.generate(clip, unet, vae, tok, [it["prompt"] for it in items], [seed] * len(items),
                                     sampler=name, steps=a.steps, cfg=a.cfg)
            if first is None:
                first = imgs
            for im, it in zip(imgs, items):
                r = eval_metrics.score(im, it, spec)
                acc += [r["color_ok"], r["shape_ok"], r["position_ok"]]
                an = r["analysis"]
                per.append({"prompt": it["prompt"], "seed": seed, "color_ok": r["color_ok"], "shape_ok": r["shape_ok"],
                            "position_ok": r["position_ok"], "color": an.get("color"), "shape": an.get("shape"),
                            "position": an.get("position")})
        acc /= len(per)
        res["samplers"][name] = {"color": acc[0], "shape": acc[1], "position": acc[2], "n": len(per),
                                 "seconds": round(time.time() - t0, 1), "per_image": per}
        print(f"{name:10s} colour {acc[0]:.3f} shape {acc[1]:.3f} position {acc[2]:.3f} "
              f"({len(per)} images, {time.time() - t0:.0f}s)", flush=True)
    mean = {k: float(np.mean([v[k] for v in res["samplers"].values()])) for k in ("color", "shape", "position")}
    res["mean_over_samplers"] = mean
    json.dump(res, open(a.out, "w"), indent=1)
    show = sampling.generate(clip, unet, vae, tok, SHOWCASE, [0] * len(SHOWCASE), steps=a.steps, cfg=a.cfg)
    caps = [it["prompt"] for it in items]
    grid(list(show) + list(first), SHOWCASE + caps, a.grid)
    print(json.dumps({"vae": res["vae"], "mean_over_samplers": mean}))


if __name__ == "__main__":
    main()
