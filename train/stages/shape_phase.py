"""The shape phase, the end of the UNet stage: once a position check says the high-noise steps place the
object (or at --shape-phase-at of the budget at the latest), every item keeps its signal and the low-noise steps
learn to shape the object (stages/unet_batch.py), with the text encoder frozen."""
import time

import torch

import data_parallel
from clock import charge
from stages.evaluation import quick_eval


@torch.no_grad()
def caption_contexts(clip, ids_of, captions, rank=0, world=1, chunk=256):
    """The frozen text encoder's output for every distinct caption (and the empty one): [n, 77, width] and a
    caption -> row map. Data-parallel ranks each encode a share and sum the table."""
    clip.eval()
    uniq = sorted(set(captions) | {""})
    rows = None
    for i in range(rank * chunk, len(uniq), world * chunk):
        h = clip(ids_of(uniq[i:i + chunk]))
        if rows is None:
            rows = torch.zeros(len(uniq), *h.shape[1:], device=h.device)
        rows[i:i + len(h)] = h
    if world > 1:
        data_parallel.sum_tensor(rows)
    return rows, {c: i for i, c in enumerate(uniq)}


def freeze_text(u):
    """Stop training the text encoder: every cached caption's context is computed once (u: the UNet stage)."""
    s, st = u.s, u.st
    tf = time.time()
    s.clip.requires_grad_(False)
    if u.token_rows:
        u.token_rows.rows.requires_grad_(False)
    u.text_rows = caption_contexts(s.clip, u.ids_of, u.cache["captions"], u.a.rank, u.world)
    u.params = [p for p in u.params if p.requires_grad]
    if not s.peer:  # export takes the EMA text encoder: make it the frozen one the UNet now trains on
        u.ema_clip.load_state_dict(s.clip.state_dict())
        # part of the stage's cost: the budget must include it
        charge(st, u.a, "contexts", tf, time.time())
        s.run.log(f"text encoder frozen at step {st['step']}; contexts of {len(u.text_rows[1])} captions "
                  f"in {time.time() - tf:.0f}s")


def position_check(u):
    """Every --shape-phase-check-minutes from --shape-phase-check-from of the budget until the phase begins:
    score position on the held-out prompts and start the phase once it reads --shape-phase-when-placed."""
    a, st = u.a, u.st
    if not (a.shape_phase_when_placed and u.phase_at_pending > st["elapsed"] / u.budget >= a.shape_phase_check_from
            and st["elapsed"] - u.last_check >= a.shape_phase_check_minutes * 60):
        return
    te = time.time()
    acc = quick_eval(u.ema_clip, u.ema_unet, u.s.vae, u.s.tok)
    # the checks are part of the recipe: the budget pays for them
    charge(st, a, "position_check", te, time.time())
    u.last_check = st["elapsed"]
    st["history"].append({"step": st["step"], "elapsed": st["elapsed"], "acc": acc.tolist(), "check": 1})
    placed = acc[2] >= a.shape_phase_when_placed
    if placed:
        u.phase_at_pending = st["elapsed"] / u.budget
        st["shape_phase_at"] = u.phase_at_pending
        st["notes"] = (st.get("notes") or "") + (
            f"the shape phase started at step {st['step']} ({100 * u.phase_at_pending:.1f}% of the UNet "
            f"budget), when the position check read {acc[2]:.3f}; ")
    u.s.run.log(f"position check step {st['step']}: colour {acc[0]:.3f} shape {acc[1]:.3f} position "
                f"{acc[2]:.3f} ({time.time() - te:.0f}s)" + (" -> shape phase" if placed else ""))
