"""Train the sd-native tiny model from scratch on procedural shapes (CPU, time-budgeted, resumable).

    python3 train/train.py --out train/runs/mine     # the shipped recipe (train/recipe.json); flags override it

Stage 1 (stages/vae.py): the VAE, then an exact rescale so that scaled latents have unit std.
Between (stages/latents.py): the training images encoded once.
Stage 2 (stages/unet.py): UNet + CLIP text encoder on the frozen VAE's latents, ending in the shape phase
(stages/shape_phase.py); then the text phase (stages/text_phase.py), run as a resumed start of this command.
Finally (stages/final.py): final.pt, and train/finish.py (export, evaluation, model card).

Each stage runs for a wall-clock budget and its schedules follow the fraction of it used. A checkpoint (models,
optimiser, step, elapsed time, RNG states) is written every few minutes; re-running the same command resumes.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli  # noqa: E402


def main():
    a = cli.parse_args()  # before torch is imported: --help and a bad flag answer at once
    from session import Session
    from stages import final, vae as vae_stage
    from stages.unet import UNetStage
    s = Session(a)
    vae_stage.reopen_if_longer(s)
    if s.st["stage"] == "vae":
        vae_stage.train_vae(s)
    s.vae.eval()
    for p in s.vae.parameters():
        p.requires_grad_(False)
    u = UNetStage(s)
    if u.active:
        u.start()
        u.train()
        if s.peer:
            return
        final.write_final(s, u)
        if s.a.text_phase_minutes > 0:
            final.run_text_phase(s)
    final.run_finish(s)


if __name__ == "__main__":
    main()
