"""Procedural shapes data set: images + captions generated on the fly (numpy only).

One or two flat-coloured shapes (circle, square, triangle, ring, cross, star) of a named colour, size and
position on a named background colour, anti-aliased by 4x supersampling. Held-out (colour, shape, position)
triples never appear in training images; train/heldout_prompts.json lists the evaluation prompts built from them.
"""
import json
import math
import os

import numpy as np

RES = 64
COLORS = {
    "red": (230, 25, 25), "green": (20, 160, 40), "blue": (30, 60, 230), "yellow": (255, 230, 30),
    "orange": (245, 120, 0), "purple": (130, 40, 170), "pink": (250, 120, 190), "white": (250, 250, 250),
    "black": (15, 15, 15), "grey": (128, 128, 128),
}
SHAPES = ["circle", "square", "triangle", "ring", "cross", "star"]
SIZES = {"small": 0.3, "large": 0.5}  # bounding-box side / image side
POSITIONS = {"left": (0.3, 0.5), "right": (0.7, 0.5), "top": (0.5, 0.3), "bottom": (0.5, 0.7),
             "centre": (0.5, 0.5)}  # (x, y) of the bounding-box centre, fractions of the image
POS_PHRASES = {"left": ["on the left"], "right": ["on the right"], "top": ["at the top"],
               "bottom": ["at the bottom"], "centre": ["in the centre", "in the center", "in the middle"]}
MIN_COLOR_DIST = 90.0  # object colours must be clearly distinct from the background
SS = 4  # supersampling factor


def color_dist(a, b):
    return float(np.linalg.norm(np.subtract(COLORS[a], COLORS[b], dtype=np.float64)))


# ---------------------------------------------------------------------------------------------- rendering
def shape_mask(shape, x, y, r):
    """Inside test. x, y: coordinates relative to the bbox centre (any array shape); r: half the bbox side."""
    if shape == "circle":
        return x * x + y * y <= r * r
    if shape == "square":
        return (np.abs(x) <= r) & (np.abs(y) <= r)
    if shape == "triangle":  # apex at the top, base at the bottom, width = height = 2r
        return (y <= r) & (np.abs(x) <= (y + r) / 2)
    if shape == "ring":
        d2 = x * x + y * y
        return (d2 <= r * r) & (d2 >= (0.6 * r) ** 2)
    if shape == "cross":
        w = 0.3 * r
        return ((np.abs(x) <= w) & (np.abs(y) <= r)) | ((np.abs(y) <= w) & (np.abs(x) <= r))
    if shape == "star":  # 5 points, first point up, inner radius 0.42 R; bbox ~1.9R x 1.81R
        big = r / 0.951  # outer radius so that the width (2 R sin 72) equals 2r
        yy = y + (big - big * math.cos(math.radians(36))) / 2  # centre the bbox vertically
        rho = np.sqrt(x * x + yy * yy)
        th = np.degrees(np.arctan2(x, -yy)) % 72.0
        u = np.radians(np.abs(((th + 36.0) % 72.0) - 36.0))
        ri, s36 = 0.42 * big, math.sin(math.radians(36))
        rb = big * ri * s36 / (big * np.sin(u) + ri * np.sin(math.radians(36) - u))
        return rho <= rb
    raise ValueError(shape)


def render(objects, bg, res=RES):
    """objects: list of dict(shape, color, cx, cy, side) with cx, cy, side in pixels. Returns uint8 [res,res,3]."""
    img = np.empty((res, res, 3), np.float32)
    img[:] = COLORS[bg]
    sub = (np.arange(res * SS, dtype=np.float32) + 0.5) / SS  # supersample centres, pixel units
    for o in objects:
        r = o["side"] / 2
        x0, x1 = max(0, int(o["cx"] - r - 2)), min(res, int(o["cx"] + r + 3))
        y0, y1 = max(0, int(o["cy"] - r - 2)), min(res, int(o["cy"] + r + 3))
        xs = sub[x0 * SS:x1 * SS] - o["cx"]
        ys = sub[y0 * SS:y1 * SS] - o["cy"]
        m = shape_mask(o["shape"], xs[None, :], ys[:, None], r).astype(np.float32)
        a = m.reshape(y1 - y0, SS, x1 - x0, SS).mean(axis=(1, 3))[..., None]  # coverage
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + np.asarray(COLORS[o["color"]], np.float32) * a
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- held-out set
def heldout_triples():
    """32 fixed (colour, shape, position) triples never rendered as training objects."""
    rng = np.random.RandomState(1234)
    cols = [c for c in COLORS]
    out = set()
    while len(out) < 32:
        t = (cols[rng.randint(len(cols))], SHAPES[rng.randint(len(SHAPES))], list(POSITIONS)[rng.randint(5)])
        if t[:2] == ("red", "circle"):
            continue  # keep the showcase prompt's object in training
        out.add(t)
    return sorted(out)


HELDOUT = set(heldout_triples())


def heldout_prompts():
    rng = np.random.RandomState(99)
    items = []
    for i, (c, s, p) in enumerate(heldout_triples()):
        bgs = [b for b in COLORS if color_dist(b, c) >= 120]
        bg = bgs[rng.randint(len(bgs))]
        size = "large" if i % 2 == 0 else "small"
        prompt = f"a {size} {c} {s} {POS_PHRASES[p][0]} on {article(bg)} {bg} background"
        items.append({"prompt": prompt, "color": c, "color_rgb": list(COLORS[c]), "shape": s, "position": p,
                      "expected_center": list(POSITIONS[p]), "size": size, "background": bg,
                      "background_rgb": list(COLORS[bg])})
    return items


# ---------------------------------------------------------------------------------------------- captions
def article(word):
    return "an" if word[0] in "aeiou" else "a"


def _obj_phrase(o, rng, with_size, with_pos):
    words = ([o["size"]] if with_size else []) + [o["color"], o["shape"]]
    s = article(words[0]) + " " + " ".join(words)
    if with_pos:
        ph = POS_PHRASES[o["pos"]]
        s += " " + ph[rng.randint(len(ph))]
    return s


def caption(objs, bg, rng):
    if len(objs) == 1:
        o = objs[0]
        ws, wp = rng.rand() < 0.75, rng.rand() < 0.85
        ob = _obj_phrase(o, rng, ws, wp)
        k = rng.randint(5)
        if k == 0:
            return f"{ob} on {article(bg)} {bg} background"
        if k == 1:
            return f"{ob}, {bg} background"
        if k == 2:
            return f"{bg} background with {ob}"
        if k == 3:
            return f"{article(bg)} {bg} background with {ob}"
        return f"{ob}"
    a = _obj_phrase(objs[0], rng, rng.rand() < 0.5, True)
    b = _obj_phrase(objs[1], rng, rng.rand() < 0.5, True)
    k = rng.randint(3)
    if k == 0:
        return f"{a} and {b}, {bg} background"
    if k == 1:
        return f"{bg} background with {a} and {b}"
    return f"{a} and {b} on {article(bg)} {bg} background"


def caption_cover(text, res=RES, latent_factor=8):
    """Where a caption puts its objects, as the fraction of each latent pixel's patch inside their bounding
    boxes ([res/8, res/8] float32; zeros when the caption names no position). For latent caches that did not
    keep their images: the caption fixes each box to within the +-2.5 px jitter of _sample_object."""
    n = res // latent_factor
    cover = np.zeros((n, n), np.float32)
    edges = np.arange(n + 1) * latent_factor
    two = " and " in text
    for pos, phrases in POS_PHRASES.items():
        for ph in phrases:
            at = text.find(ph)
            if at < 0:
                continue
            before = text[:at].rsplit(" and ", 1)[-1]  # this object's own words
            size = "small" if two or "small" in before else "large" if "large" in before else None
            side = (SIZES[size] if size else (SIZES["small"] + SIZES["large"]) / 2) * res
            cx, cy = POSITIONS[pos][0] * res, POSITIONS[pos][1] * res
            ox = np.clip(np.minimum(edges[1:], cx + side / 2) - np.maximum(edges[:-1], cx - side / 2), 0, None)
            oy = np.clip(np.minimum(edges[1:], cy + side / 2) - np.maximum(edges[:-1], cy - side / 2), 0, None)
            cover = np.maximum(cover, np.outer(oy, ox) / latent_factor ** 2)
    return cover


# ---------------------------------------------------------------------------------------------- sampling
def _sample_object(rng, bg, pos, avoid_color=None, size=None):
    while True:
        c = list(COLORS)[rng.randint(len(COLORS))]
        s = SHAPES[rng.randint(len(SHAPES))]
        if color_dist(c, bg) < MIN_COLOR_DIST or c == avoid_color or (c, s, pos) in HELDOUT:
            continue
        sz = size or ("small" if rng.rand() < 0.5 else "large")
        px, py = POSITIONS[pos]
        side = SIZES[sz] * RES * (1 + rng.uniform(-0.08, 0.08))
        return {"shape": s, "color": c, "size": sz, "pos": pos, "side": side,
                "cx": px * RES + rng.uniform(-2.5, 2.5), "cy": py * RES + rng.uniform(-2.5, 2.5)}


def sample(rng):
    """Returns (uint8 image [64,64,3], caption, objects, bg)."""
    bg = list(COLORS)[rng.randint(len(COLORS))]
    if rng.rand() < 0.8:
        pos = list(POSITIONS)[rng.randint(5)]
        objs = [_sample_object(rng, bg, pos)]
    else:
        pa, pb = [("left", "right"), ("top", "bottom")][rng.randint(2)]
        if rng.rand() < 0.5:
            pa, pb = pb, pa
        o1 = _sample_object(rng, bg, pa, size="small")  # two small objects never overlap
        objs = [o1, _sample_object(rng, bg, pb, avoid_color=o1["color"], size="small")]
    return render(objs, bg), caption(objs, bg, rng), objs, bg


def batch(rng, n):
    imgs, caps = [], []
    for _ in range(n):
        im, cap, _, _ = sample(rng)
        imgs.append(im)
        caps.append(cap)
    x = np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0  # [N,3,64,64] in [-1,1]
    return x, caps


def shape_templates(n=16, reps=24):
    """Bbox-normalised n x n masks of every shape as '0'/'1' row strings, built exactly as the evaluation
    measures a generated object (mask = pixels > 60 RGB away from the background, bbox, nearest sampling at
    cell centres), averaged over renders at both sizes with jitter and thresholded at 0.5."""
    rng = np.random.RandomState(7)
    out = {}
    for s in SHAPES:
        acc = np.zeros((n, n))
        for i in range(reps):
            side = SIZES["small" if i % 2 else "large"] * RES * (1 + rng.uniform(-0.08, 0.08))
            o = {"shape": s, "color": "white", "side": side, "cx": 32 + rng.uniform(-2.5, 2.5),
                 "cy": 32 + rng.uniform(-2.5, 2.5)}
            img = render([o], "black").astype(np.float64)
            m = np.linalg.norm(img - np.asarray(COLORS["black"], np.float64), axis=-1) > 60.0
            ys, xs = np.nonzero(m)
            y0, x0, bh, bw = ys.min(), xs.min(), ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
            yi = (y0 + (np.arange(n) + 0.5) * bh / n).astype(int)
            xi = (x0 + (np.arange(n) + 0.5) * bw / n).astype(int)
            acc += m[yi][:, xi]
        g = acc / reps >= 0.5
        out[s] = ["".join("1" if v else "0" for v in row) for row in g]
    return out


def write_heldout(path):
    d = {"description": "Held-out evaluation prompts for the sd-native tiny model: these (colour, shape, position) "
                        "triples never appear in training images. Scoring: train/eval_spec.md.",
         "resolution": RES, "palette": {k: list(v) for k, v in COLORS.items()},
         "positions": {k: list(v) for k, v in POSITIONS.items()},
         "shape_templates_16x16": shape_templates(), "prompts": heldout_prompts()}
    with open(path, "w") as f:
        json.dump(d, f, indent=1)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write_heldout(os.path.join(here, "heldout_prompts.json"))
    rng = np.random.RandomState(0)
    for _ in range(8):
        print(sample(rng)[1])
