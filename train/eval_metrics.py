"""Score a generated image against a held-out prompt's expectation (spec: train/eval_spec.md)."""
from collections import deque

import numpy as np

MASK_THRESHOLD = 60.0  # RGB euclidean distance (0..255) from the estimated background


def largest_component(mask):
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best = []
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or seen[y0, x0]:
                continue
            comp, q = [], deque([(y0, x0)])
            seen[y0, x0] = True
            while q:
                y, x = q.popleft()
                comp.append((y, x))
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                        seen[yy, xx] = True
                        q.append((yy, xx))
            if len(comp) > len(best):
                best = comp
    out = np.zeros_like(mask, dtype=bool)
    if best:
        ys, xs = zip(*best)
        out[list(ys), list(xs)] = True
    return out


def analyse(img, spec):
    """img uint8 [H,W,3]; spec: the heldout_prompts.json top level (palette, positions, templates)."""
    h, w, _ = img.shape
    f = img.astype(np.float64)
    border = np.concatenate([f[0], f[-1], f[1:-1, 0], f[1:-1, -1]])
    bg = np.median(border, axis=0)
    mask = np.linalg.norm(f - bg, axis=-1) > MASK_THRESHOLD
    comp = largest_component(mask)
    n = int(comp.sum())
    res = {"background_est": bg.tolist(), "object_pixels": n}
    if n == 0:
        return dict(res, color=None, position=None, shape=None)
    col = np.median(f[comp], axis=0)
    pal = spec["palette"]
    res["color_est"] = col.tolist()
    res["color"] = min(pal, key=lambda k: np.linalg.norm(col - np.asarray(pal[k], np.float64)))
    ys, xs = np.nonzero(comp)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cx, cy = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h  # bbox centre (a triangle's centroid sits low)
    res["bbox"] = [int(x0), int(y0), int(x1), int(y1)]
    res["center"] = [cx, cy]
    pos = spec["positions"]
    res["position"] = min(pos, key=lambda k: (cx - pos[k][0]) ** 2 + (cy - pos[k][1]) ** 2)
    bh, bw = y1 - y0, x1 - x0
    yi = (y0 + (np.arange(16) + 0.5) * bh / 16).astype(int)
    xi = (x0 + (np.arange(16) + 0.5) * bw / 16).astype(int)
    g = comp[yi][:, xi]
    ious = {}
    for s, rows in spec["shape_templates_16x16"].items():
        t = np.array([[c == "1" for c in r] for r in rows])
        ious[s] = float((g & t).sum() / max((g | t).sum(), 1))
    res["shape_iou"] = ious
    res["shape"] = max(ious, key=ious.get)
    return res


def score(img, item, spec):
    r = analyse(img, spec)
    return {"color_ok": r["color"] == item["color"], "shape_ok": r["shape"] == item["shape"],
            "position_ok": r["position"] == item["position"], "analysis": r}
