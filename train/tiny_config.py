"""The sd-native tiny model's configuration (one place, shared by train/export/evaluate)."""
from sd_modules import AutoencoderKL, CLIPTextModel, UNetModel

CONFIG = {
    "clip": {"width": 128, "heads": 2, "layers": 3},  # d_head 64 like CLIP ViT-L (heads = width / 64)
    "unet": {"model_channels": 64, "channel_mult": [1, 2, 2], "num_res_blocks": 1,
             "attention_resolutions": [1, 2], "num_heads": 4, "context_dim": 128},
    "vae": {"ch": 32, "ch_mult": [2, 1, 2, 2], "num_res_blocks": 1},
    "resolution": 64,
    "scale_factor": 0.18215,
}


def build(cfg=CONFIG):
    return CLIPTextModel(**cfg["clip"]), UNetModel(**cfg["unet"]), AutoencoderKL(**cfg["vae"])
