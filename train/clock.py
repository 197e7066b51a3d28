"""Stage clocks and learning-rate schedules: budgets are seconds, schedules follow the fraction used."""
import math

# --sim-clock: what each unit of work costs on the 2-core CPU the recipe's budgets are set for (a VAE step on
# 32x32 crops and on whole images, a UNet step of 64 on two processes with the text encoder training and frozen,
# a position check, the frozen encoder's contexts of the cached captions)
SIM_SECONDS = {"vae_step_crops": 0.44, "vae_step": 0.87, "unet_step": 0.98, "unet_step_frozen_text": 0.77,
               "position_check": 10.0, "contexts": 34.0}


def lr_at(progress, step, peak, warmup):
    """Linear warm-up over `warmup` steps, then a cosine from `peak` to 10% of it over progress 0..1."""
    w = min(1.0, (step + 1) / warmup)
    return peak * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def charge(st, a, what, t0, now):
    """Add a piece of work's cost to the stage clock: SIM_SECONDS[what] under --sim-clock, else its own time."""
    st["elapsed"] += SIM_SECONDS[what] if a.sim_clock else now - t0
