"""One start of train.py: its arguments, device, models and tokenizer, the run's state `st` (read back from
ckpt.pt when the run exists, so that re-running the same command resumes) and its random streams."""
import json
import os
import time

import numpy as np
import torch

from checkpoint import cpu_state, load
from runlog import Run
from stages import latents, text_phase
from threads import ThreadTuner
from tiny_config import CONFIG, build
from tokenizer import ClipTokenizer


class Session:
    def __init__(self, a):
        self.dev = dev = torch.device(a.device)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            # the CPU computes in full f32: so does the GPU (PyTorch's default lets cuDNN convolve in TF32)
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        if dev.type != "cpu" and a.procs > 1:
            raise SystemExit(f"--device {a.device} trains in one process: add --procs 1")
        self.a = self.a_given = a  # a_given: the command as typed, which final.pt records
        self.peer = a.rank > 0
        self.tuner = ThreadTuner(1 if self.peer else a.threads)
        self.run = Run(a.out, quiet=self.peer)
        self.ck = os.path.join(a.out, "ckpt.pt")
        if a.seed:  # 0 keeps torch's default stream, which initialised the shipped model
            torch.manual_seed(a.seed)
        self.clip, self.unet, self.vae = (m.to(dev) for m in build())
        self.tok = ClipTokenizer()
        self.st = {"stage": "vae", "step": 0, "elapsed": 0.0, "wall_start": time.time(), "history": []}
        torch.manual_seed(a.seed)
        self.rng = np.random.RandomState(a.seed)
        with torch.no_grad():  # start with a nearly deterministic posterior (std ~0.02): the decoder sees clean
            self.vae.quant_conv.bias[4:] = -8.0  # latents from step 0 instead of unit noise (the KL weight is tiny)
        self.vopt = torch.optim.AdamW(self.vae.parameters(), lr=a.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
        if a.vae_from and not os.path.exists(self.ck):
            latents.take_vae_stage(a.vae_from, a.out, self.ck, self.run, a.seed)
        if os.path.exists(self.ck):
            self.resume()
        else:
            self.run.log(f"new run; config {json.dumps(CONFIG)}; args {vars(a)}")
        self.t_sess = time.time()

    def resume(self):
        st = self.st = load(self.ck)
        self.vae.load_state_dict(st["vae"])
        if st["stage"] == "vae" and "vopt" in st:
            self.vopt.load_state_dict(st["vopt"])
        self.rng.set_state(st["np_rng"])
        torch.set_rng_state(st["torch_rng"])
        if self.dev.type == "cuda" and st.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(st["cuda_rng"])
        self.run.log(f"resumed stage {st['stage']} step {st['step']} elapsed {st['elapsed']:.0f}s")
        if st.get("text_phase") and self.a.text_phase_minutes > 0:
            self.a = text_phase.args_for(self.a, st["text_phase_from_s"])
            self.run.log(f"text phase: UNet budget {self.a.unet_minutes:g} min, the shape phase re-anchored at "
                         f"{self.a.rebase_phase_at:.3f} of it, the text encoder "
                         f"{'frozen' if self.a.text_phase_frozen else 'training'}")

    def snapshot(self, extra):
        """What a checkpoint holds: the bookkeeping, the VAE, the RNG states, `extra` (a stage's weights)."""
        d = dict(self.st)  # bookkeeping first: a resumed `st` also holds the stale tensors it was loaded with
        d.update({"vae": cpu_state(self.vae.state_dict()), "np_rng": self.rng.get_state(),
                  "torch_rng": torch.get_rng_state(),
                  "cuda_rng": torch.cuda.get_rng_state() if self.dev.type == "cuda" else None})
        d.update(extra)
        d["wall_used"] = self.st.get("wall_used", 0.0) + (time.time() - self.t_sess)
        return d
