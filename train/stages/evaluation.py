"""The in-training evaluation: generate the held-out prompts and score them as train/evaluate.py does."""
import json
import os

import numpy as np

import eval_metrics
import sampling

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quick_eval(clip, unet, vae, tok, seeds=(0,), steps=20, cfg=6.0, sampler="euler", limit=None):
    """Colour, shape and position accuracy over the first `limit` held-out prompts (all: None) x seeds."""
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
