"""train.py's stages, one module each: vae (stage 1), latents (the latent cache between the stages), unet
(stage 2) with unet_batch (one step's items and loss), text_phase (the phase after the UNet budget) and final
(final.pt and train/finish.py)."""
