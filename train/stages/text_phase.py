"""The text phase: after the UNet budget, the shape phase continues for --text-phase-minutes with the text
encoder training again. It runs as a resumed run of the same command (so it is resumable like any other): the
budget grows by the phase's minutes and the shape phase's cosine restarts at TEXT_PHASE_RESUME."""
import argparse

from clock import lr_at

# the shape phase's own cosine resumes at this progress in the text phase (lr 0.966 x its peak)
TEXT_PHASE_RESUME = 0.1246

# written into a run's notes when a resumed command names another --unet-minutes: finish.py reads it as "the
# phases were started by hand", since the arguments final.pt records are then only the last segment's
BUDGET_CHANGED = "the UNet budget changed"


def text_phase_resume_lr_factor():
    """The text phase's first lr as a fraction of the shape phase's peak."""
    return lr_at(TEXT_PHASE_RESUME, step=10**9, peak=1.0, warmup=1)


def args_for(a, ended_s):
    """The arguments that run the text phase as a resumed run: the budget grows by --text-phase-minutes, the
    phase's start moves so that its cosine resumes at TEXT_PHASE_RESUME where the budget's last step ended
    (ended_s), and the text encoder trains again (unless --text-phase-frozen)."""
    total = a.unet_minutes + a.text_phase_minutes
    start = (ended_s / 60 - TEXT_PHASE_RESUME * total) / (1 - TEXT_PHASE_RESUME)
    return argparse.Namespace(**dict(vars(a), unet_minutes=total, rebase_phase_at=start / total,
                                     freeze_text_with_phase=a.text_phase_frozen, text_phase_minutes=0.0))


def note_budget_change(st, a, budget):
    """A resumed run with another UNet budget (the text phase is one): note it, and move a started shape phase
    to --rebase-phase-at of the new budget (at its old fraction it could lie after the resume point and run
    zero-signal steps again; a data-parallel peer reads the moved start from the checkpoint)."""
    if st.get("unet_budget_s") in (None, budget):
        return
    st["notes"] = (st.get("notes") or "") + (f"{BUDGET_CHANGED} from {st['unet_budget_s'] / 60:g} to "
                                             f"{a.unet_minutes:g} min at step {st['step']}; ")
    if a.rebase_phase_at is not None and "shape_phase_at" in st:
        st["notes"] += (f"the shape phase's start moved from {st['shape_phase_at']:.3f} to "
                        f"{a.rebase_phase_at:g} of the new budget; ")
        st["shape_phase_at"] = a.rebase_phase_at


def mark_budget_end(st, phase_at):
    """At the end of the UNet budget: the next start of the command runs the text phase from here."""
    st["text_phase"], st["text_phase_from_s"] = True, st["elapsed"]
    if phase_at < 1 and "shape_phase_at" not in st:  # begun at --shape-phase-at: the rebase needs it
        st["shape_phase_at"] = phase_at
