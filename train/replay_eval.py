"""Score a replay_sweep.sh run (on the GPU if there is one): final.pt, or ckpt.pt's EMA weights when that is newer
(a run stopped early), on the 32 held-out prompts x seeds 0, 1 with Euler and DPM++ 2M (20 steps, CFG 6) and Euler at
the runtime's 40 steps, CFG 4. Prints one JSON line."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_config import build  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402
from checkpoint import load  # noqa: E402
from stages.evaluation import quick_eval  # noqa: E402

run = sys.argv[1]
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
clip, unet, vae = (m.to(dev).eval() for m in build())
fin, ck = os.path.join(run, "final.pt"), os.path.join(run, "ckpt.pt")
# a run stopped in its text phase has an older final.pt (the end of its first budget) than its checkpoint
which = "final" if os.path.exists(fin) and os.path.getmtime(fin) >= os.path.getmtime(ck) else "ckpt"
f = load(fin if which == "final" else ck)
pre = "" if which == "final" else "ema_"
clip.load_state_dict(f[pre + "clip"])
unet.load_state_dict(f[pre + "unet"])
vae.load_state_dict(f["vae"])
res = {"run": os.path.basename(run), "which": which, "step": f.get("step", (f.get("train") or {}).get("unet_steps"))}
tok = ClipTokenizer()
with torch.no_grad():
    for name, sampler, steps, cfg in (("euler", "euler", 20, 6.0), ("dpmpp_2m", "dpmpp_2m", 20, 6.0),
                                      ("euler40c4", "euler", 40, 4.0)):
        acc = quick_eval(clip, unet, vae, tok, seeds=(0, 1), steps=steps, cfg=cfg, sampler=sampler)
        res[name] = [round(float(v), 3) for v in acc]
print(json.dumps(res), flush=True)
