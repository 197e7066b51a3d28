// Inpainting's latent-side steps, A1111 semantics (modules/processing.py, sd_samplers_cfg_denoiser.py):
// the kept latent is blended back into every denoised prediction and into the final sample, and
// 9-channel inpainting UNets get [mask, masked-image latent] beside the latent (as ldm's
// LatentInpaintDiffusion was trained: mask at latent size by nearest sampling, masked pixels zeroed).
#pragma once
#include <cstdint>
#include <vector>

#include "sample/sampler.h"
#include "sd.h"

namespace sd::runtime {

// denoised = denoised·repaint + kept·(1 − repaint), per image of the batch, after the CFG combine.
class KeepUnmaskedDenoiser : public sample::Denoiser {
 public:
  // n: floats per call (the whole batch); kept: [images, c, h, w] clean latents; repaint: [h, w] in
  // 0..1, shared by every channel and image.
  KeepUnmaskedDenoiser(sample::Denoiser& inner, int64_t n, const std::vector<float>& kept, const std::vector<float>& repaint)
      : inner_(inner), n_(n), kept_(kept), repaint_(repaint) {}
  void denoise(const float* x, float sigma, float* denoised) override;
  // The model's own unconditional prediction, unblended (A1111 keeps the raw uncond for CFG++).
  const float* last_uncond() const override { return inner_.last_uncond(); }

 private:
  sample::Denoiser& inner_;
  int64_t n_;
  const std::vector<float>& kept_;
  const std::vector<float>& repaint_;
};

// x = x·repaint + kept·(1 − repaint) over n floats of [images, c, h, w] (kept cycles per image).
void keep_unmasked(float* x, int64_t n, const std::vector<float>& kept, const std::vector<float>& repaint);

// A1111 inpainting_image_conditioning's pixel side: round(mask) and image·(1 − mask) in [−1, 1],
// planar [3, H, W]. mask null: the whole image is masked (txt2img / unmasked img2img on an inpainting model).
std::vector<float> masked_image_pixels(const InitImage* image, const InpaintMask* mask, int width, int height);
// The conditioning mask at latent size: torch interpolate 'nearest' of round(mask/255), i.e. pixel (f·i, f·j).
std::vector<float> conditioning_mask(const InpaintMask* mask, int width, int height, int downscale);

}  // namespace sd::runtime
