"""Score a replay_sweep.sh run (on the GPU if there is one): final.pt, or ckpt.pt's EMA weights when that is newer
(a run stopped early), on the 32 held-out prompts x seeds 0, 1 with Euler and DPM++ 2M (20 steps, CFG 6) and Euler at
the runtime's 40 steps, CFG 4. Prints one JSON line."""
import json, os, sys
import numpy as np, torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import eval_metrics, sampling
from tiny_config import build
from tokenizer import ClipTokenizer
run = sys.argv[1]
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
clip, unet, vae = (m.to(dev).eval() for m in build())
fin, ck = os.path.join(run, "final.pt"), os.path.join(run, "ckpt.pt")
# a run stopped in its text phase has an older final.pt (the end of its first budget) than its checkpoint
which = "final" if os.path.exists(fin) and os.path.getmtime(fin) >= os.path.getmtime(ck) else "ckpt"
f = torch.load(fin if which == "final" else ck, map_location="cpu", weights_only=False)
pre = "" if which == "final" else "ema_"
clip.load_state_dict(f[pre + "clip"]); unet.load_state_dict(f[pre + "unet"]); vae.load_state_dict(f["vae"])
tr = f.get("train") or {}
spec = json.load(open(os.path.join(HERE, "heldout_prompts.json")))
items = spec["prompts"]
tok = ClipTokenizer()
res = {"run": os.path.basename(run), "which": which, "step": f.get("step", tr.get("unet_steps"))}
for name, s, steps, cfg in (("euler", "euler", 20, 6.0), ("dpmpp_2m", "dpmpp_2m", 20, 6.0), ("euler40c4", "euler", 40, 4.0)):
    acc, n = np.zeros(3), 0
    for seed in (0, 1):
        imgs = sampling.generate(clip, unet, vae, tok, [it["prompt"] for it in items], [seed] * len(items),
                                 sampler=s, steps=steps, cfg=cfg, batch=32)
        for im, it in zip(imgs, items):
            r = eval_metrics.score(im, it, spec)
            acc += [r["color_ok"], r["shape_ok"], r["position_ok"]]
            n += 1
    res[name] = [round(float(v), 3) for v in acc / n]
print(json.dumps(res), flush=True)
