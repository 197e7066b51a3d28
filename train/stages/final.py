"""The end of a run: final.pt (the EMA weights, the frozen VAE, what the training measured and the command),
then the text phase as the command's next start, then train/finish.py (export, evaluation, model card)."""
import os
import subprocess
import sys
import time

import torch

from checkpoint import cpu_state, save_ckpt
from stages import text_phase
from tiny_config import CONFIG

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(HERE, "train.py")


def write_final(s, u):
    """Mark the UNet stage done (the text phase pending, if the recipe has one), checkpoint, write final.pt."""
    a, st = s.a, s.st
    st.update({"stage": "done", "unet_steps": st["step"], "unet_elapsed": st["elapsed"]})
    if a.text_phase_minutes > 0:
        text_phase.mark_budget_end(st, u.phase_at)
    snap = s.snapshot(u.weights())
    save_ckpt(s.ck, snap)
    final = {"config": CONFIG, "clip": cpu_state(u.ema_clip.state_dict()),
             "unet": cpu_state(u.ema_unet.state_dict()), "vae": cpu_state(s.vae.state_dict()),
             "train": dict({k: snap.get(k) for k in ("vae_steps", "vae_elapsed", "vae_rescale", "unet_steps",
                                                      "unet_elapsed", "wall_used", "history", "notes")},
                           wall_total_s=time.time() - st["wall_start"]),
             "args": vars(s.a_given)}
    torch.save(final, os.path.join(a.out, "final.pt"))
    s.run.log(f"training done: wall time used {snap['wall_used'] / 60:.1f} min; wrote final.pt")


def run_text_phase(s):
    """Start the command again: it resumes into the text phase. Exits with that start's status."""
    s.run.log(f"starting the text phase ({s.a.text_phase_minutes:g} min)")
    sys.exit(subprocess.run([sys.executable, TRAIN_PY] + sys.argv[1:]).returncode)


def run_finish(s):
    if not s.a.no_finish:
        s.run.log("running train/finish.py")
        subprocess.run([sys.executable, os.path.join(HERE, "finish.py"), "--run", s.a.out], check=False)
