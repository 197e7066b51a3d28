"""Stage 2, the UNet and the CLIP text encoder together on the frozen VAE's scaled latents: eps MSE with
min-SNR weights, AdamW, EMA weights (the ones shipped), optionally over two data-parallel processes. Within its
budget: position checks, the shape phase (stages/unet_batch.py), in-training evaluations and checkpoints."""
import copy
import os
import sys
import time

import numpy as np
import torch

import data_parallel
import sampling
from checkpoint import cpu_state, save_ckpt
from clock import charge, lr_at
from stages import latents, shape_phase, text_phase, unet_batch
from stages.evaluation import quick_eval
from threads import set_threads
from token_rows import UsedTokenRows


def unet_stage_optimizer(unet, clip, token_rows, lr):
    """AdamW over what the UNet stage trains (no weight decay on embeddings, norms and biases)."""
    params = [p for p in list(unet.parameters()) + list(clip.parameters()) if p.requires_grad]
    no_wd = [p for n, p in list(unet.named_parameters()) + list(clip.named_parameters())
             if p.requires_grad and (p.ndim < 2 or "embedding" in n)]
    if token_rows:
        params.append(token_rows.rows)
        no_wd.append(token_rows.rows)
    ids_no_wd = {id(p) for p in no_wd}
    opt = torch.optim.AdamW([{"params": [p for p in params if id(p) not in ids_no_wd], "weight_decay": 0.01},
                             {"params": no_wd, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99),
                            foreach=True)  # one fused pass per op over all tensors: 5% of a step on 1 thread
    return params, opt


def ema_update(ema, model, decay):
    with torch.no_grad():  # one fused pass over all tensors: a loop launches ~800 tiny kernels a step on a GPU
        pe, pm = list(ema.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_mul_(pe, decay)
        torch._foreach_add_(pe, pm, alpha=1 - decay)


class UNetStage:
    def __init__(self, s):
        """The models' UNet-stage state (from the checkpoint when it has one), the latent cache and the
        optimiser; self.active says whether this start trains (False: the run is done)."""
        self.s, self.a, self.st, self.dev = s, s.a, s.st, s.dev
        st, clip, unet = s.st, s.clip, s.unet
        self.ema_clip, self.ema_unet = copy.deepcopy(clip).eval(), copy.deepcopy(unet).eval()
        if st["stage"] in ("unet", "done") and "unet" in st:
            clip.load_state_dict(st["clip"])
            unet.load_state_dict(st["unet"])
            self.ema_clip.load_state_dict(st["ema_clip"])
            self.ema_unet.load_state_dict(st["ema_unet"])
        if st["stage"] == "done" and self.a.unet_minutes * 60 > st.get("unet_elapsed", 0) + 30:
            st["stage"] = "unet"  # a larger budget than the finished run's: the cosine resumes at the new fraction
            s.run.log(f"extending the UNet stage from {st['elapsed']:.0f}s to {self.a.unet_minutes * 60:.0f}s")
        self.active = st["stage"] == "unet"
        if not self.active:
            return
        self.tok_cache, self.token_rows, self.text_rows = {}, None, None
        self.cache = latents.load_or_build(s)
        if st.get("token_rows") or "opt" not in st:  # not for a run whose optimiser state has the full table
            # CLIP's BPE splits at spaces before merging, so the captions' tokens are their words' tokens
            words = sorted({w for c in set(self.cache["captions"]) for w in c.split()})
            self.token_rows = UsedTokenRows(clip.embeddings.token_embedding,
                                            [i for w in words for i in s.tok.encode_sd1(w)])
            st["token_rows"] = True
            s.run.log(f"training {len(self.token_rows.ids)} of {clip.embeddings.token_embedding.num_embeddings} "
                      f"token-embedding rows (the captions' tokens)")
        self.params, self.opt = unet_stage_optimizer(unet, clip, self.token_rows, self.a.unet_lr)
        if "opt" in st:
            self.opt.load_state_dict(st["opt"])

    def ids_of(self, caps):
        out = []
        for c in caps:
            if c not in self.tok_cache:
                self.tok_cache[c] = self.s.tok.encode_sd1(c)
            out.append(self.tok_cache[c])
        return torch.tensor(out, device=self.dev)

    def weights(self):
        """What a UNet-stage checkpoint holds besides the bookkeeping."""
        s = self.s
        return {"clip": cpu_state(s.clip.state_dict()), "unet": cpu_state(s.unet.state_dict()),
                "ema_clip": cpu_state(self.ema_clip.state_dict()), "ema_unet": cpu_state(self.ema_unet.state_dict()),
                "opt": self.opt.state_dict()}

    def start(self):
        """The budget (a changed one is noted), the cache on the device, the data-parallel processes."""
        s, a, st = self.s, self.a, self.st
        self.cache_dev = {k: self.cache[k].to(self.dev) for k in ("mean", "std", "cover") if k in self.cache}
        self.cache_dev["mean"], self.cache_dev["std"] = self.cache_dev["mean"].float(), self.cache_dev["std"].float()
        self.ac = sampling.AC.to(self.dev)
        self.budget = budget = a.unet_minutes * 60
        if not s.peer:
            text_phase.note_budget_change(st, a, budget)
        st["unet_budget_s"] = budget
        self.world = max(1, a.procs)
        if self.world > 1:
            if not s.peer:
                save_ckpt(s.ck, s.snapshot(self.weights()))
                self.peer_proc = data_parallel.spawn_peer(a.out, sys.argv[1:])
            set_threads(1)
            data_parallel.join(a.out, a.rank, self.world)
            data_parallel.broadcast_modules(s.clip, s.unet)
            if self.token_rows:
                self.token_rows.reload()
            if s.peer:  # its own items: a stream that differs from rank 0's and from its earlier sessions
                s.rng = np.random.RandomState(1000003 + st["step"] + 7919 * a.seed)
                torch.manual_seed(1000003 + st["step"] + 7919 * a.seed)
            s.run.log(f"UNet stage on {self.world} data-parallel processes, {a.unet_batch // self.world} items "
                      f"each per step")
        # where the shape phase starts (fraction of the budget): every rank decides a step by the value rank 0
        # sent in the previous step's all-reduce, so the phase and the text freeze begin on the same step
        self.phase_at = self.phase_at_pending = st.get("shape_phase_at", a.shape_phase_at)
        self.elapsed0 = st["elapsed"]  # rank 0's clock as every rank knows it
        self.last_check = self.last_ev = st["elapsed"]

    def step(self):
        """One optimiser step; False when the data-parallel ranks have agreed the budget is spent."""
        s, a, st, world = self.s, self.a, self.st, self.world
        clock = self.elapsed0 if world > 1 else st["elapsed"]  # the same number on every rank
        shaping = clock / self.budget >= self.phase_at
        if self.text_rows is None and (clock >= a.freeze_text_at * self.budget or (a.freeze_text_with_phase and shaping)):
            shape_phase.freeze_text(self)
        self.t0 = time.time()
        b = unet_batch.draw(s.rng, self, a.unet_batch // world, shaping, min(1.0, clock / self.budget))
        loss = unet_batch.loss(self, b)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.params]
        if world > 1:  # rank 0's elapsed time rides along, so every rank stops at the same step
            (grads,), (loss_sum, self.elapsed0, self.phase_at) = data_parallel.average_grad_sets(
                self.params, [grads], [float(loss), 0.0 if s.peer else st["elapsed"],
                                       0.0 if s.peer else self.phase_at_pending])
            if self.elapsed0 >= self.budget:
                return False
            loss = torch.tensor(loss_sum / world)
        clock_now = (self.elapsed0 if world > 1 else st["elapsed"]) / self.budget  # every rank's lr is the same
        lr = lr_at(clock_now, st["step"], a.unet_lr, 200)
        if world == 1:
            self.phase_at = self.phase_at_pending
        if a.shape_phase_lr and clock_now >= self.phase_at:  # a cosine of its own over the phase
            lr = lr_at((clock_now - self.phase_at) / max(1e-9, 1 - self.phase_at), st["step"], a.shape_phase_lr, 1)
        for p, g in zip(self.params, grads):
            p.grad = g
        for g in self.opt.param_groups:  # every rank follows rank 0's clock, so the updates stay identical
            g["lr"] = lr
        gn = torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        if self.token_rows:
            self.token_rows.write_back()
        st["step"] += 1
        self.last = (loss, gn, lr)
        return True

    def train(self):
        """The stage's steps to its budget, then the data-parallel peer leaves."""
        s, st = self.s, self.st
        last_ck, agg, t_log = time.time(), [], time.time()
        while self.world > 1 or st["elapsed"] < self.budget:  # data parallel: the all-reduce decides when to stop
            if self.world == 1:
                s.tuner.before()
            if not self.step():
                break
            if s.peer:  # rank 0 alone keeps the clock, the averages and the records
                continue
            decay = min(0.995, (1 + st["step"]) / (10 + st["step"]))
            ema_update(self.ema_unet, s.unet, decay)
            ema_update(self.ema_clip, s.clip, decay)
            charge(st, self.a, "unet_step" if self.text_rows is None else "unet_step_frozen_text", self.t0, time.time())
            if self.world == 1:
                s.tuner.after(time.time() - self.t0)
            loss, gn, lr = self.last
            agg.append([loss.item(), float(gn)])
            if st["step"] % 20 == 0:
                m = np.mean(agg, axis=0)
                agg = []
                s.run.loss("unet", st["step"], st["elapsed"], loss=m[0], grad_norm=m[1])
                s.run.log(f"unet step {st['step']} {st['elapsed']:.0f}/{self.budget:.0f}s loss {m[0]:.4f} "
                          f"gnorm {m[1]:.3f} lr {lr:.2e} {(time.time() - t_log) / 20:.2f}s/step "
                          + (f"procs {self.world}" if self.world > 1 else f"threads {s.tuner.best}"))
                t_log = time.time()
            shape_phase.position_check(self)
            self.evaluate()
            if time.time() - last_ck > self.a.ckpt_minutes * 60:
                save_ckpt(s.ck, s.snapshot(self.weights()))
                last_ck = time.time()
        if self.world > 1:
            data_parallel.leave()
            if not s.peer:
                self.peer_proc.wait()

    def evaluate(self):
        """The in-training evaluation, every --eval-minutes of the stage and at its end."""
        a, st = self.a, self.st
        if not (st["elapsed"] - self.last_ev > a.eval_minutes * 60 or st["elapsed"] >= self.budget):
            return
        te = time.time()
        acc = quick_eval(self.ema_clip, self.ema_unet, self.s.vae, self.s.tok, limit=a.eval_prompts)
        st["history"].append({"step": st["step"], "elapsed": st["elapsed"], "acc": acc.tolist()})
        self.s.run.log(f"eval step {st['step']}: colour {acc[0]:.3f} shape {acc[1]:.3f} position {acc[2]:.3f} "
                       f"(euler 20, cfg 6, {a.eval_prompts or 32} held-out prompts, EMA; {time.time() - te:.0f}s)")
        self.last_ev = st["elapsed"]
