"""Write test/fixtures/scorer_cases.json: pictures + train/eval_metrics.py's analysis of each, so the JS scorer
(test/helpers/shape-score.ts) is checked against the Python one on the same pixels.

Renders of the held-out items, degraded in ways generated pictures are (noise, blur, colour drift, a stray
blob, an empty canvas), so the cases cover wrong answers and ties as well as clean ones.

    python3 train/make_scorer_cases.py
"""
import base64
import json
import os

import numpy as np

import data
import eval_metrics

HERE = os.path.dirname(os.path.abspath(__file__))


def blur(img, k):
    f = img.astype(np.float64)
    for axis in (0, 1):
        f = sum(np.roll(f, s, axis=axis) for s in range(-k, k + 1)) / (2 * k + 1)
    return f


def main():
    spec = json.load(open(os.path.join(HERE, "heldout_prompts.json")))
    rng = np.random.RandomState(2024)
    cases = []
    for i, it in enumerate(spec["prompts"] * 2):
        side = data.SIZES[it["size"]] * data.RES * (1 + rng.uniform(-0.15, 0.15))
        px, py = data.POSITIONS[it["position"]]
        img = data.render([{"shape": it["shape"], "color": it["color"], "side": side,
                            "cx": px * 64 + rng.uniform(-6, 6), "cy": py * 64 + rng.uniform(-6, 6)}],
                          it["background"]).astype(np.float64)
        kind = i % 6
        if kind == 1:
            img = img + rng.normal(0, 25, img.shape)
        elif kind == 2:
            img = blur(img, 2)
        elif kind == 3:
            img = img + rng.uniform(-70, 70, 3)
        elif kind == 4:
            y, x = rng.randint(0, 56, 2)
            img[y:y + 8, x:x + 8] = rng.randint(0, 256, 3)
        elif kind == 5 and i % 12 == 5:
            img[:] = np.asarray(spec["palette"][it["background"]])
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        a = eval_metrics.analyse(img, spec)
        cases.append({"item": i % len(spec["prompts"]), "rgb": base64.b64encode(img.tobytes()).decode(),
                      "color": a.get("color"), "shape": a.get("shape"), "position": a.get("position"),
                      "object_pixels": a["object_pixels"], "bbox": a.get("bbox")})
    out = os.path.join(HERE, "..", "test", "fixtures", "scorer_cases.json")
    with open(out, "w") as f:
        json.dump({"width": 64, "height": 64, "made_by": "train/make_scorer_cases.py (train/eval_metrics.py)",
                   "cases": cases}, f)
    ok = [c["color"] == spec["prompts"][c["item"]]["color"] for c in cases]
    print(f"{len(cases)} cases, colour right in {sum(ok)}")


if __name__ == "__main__":
    main()
