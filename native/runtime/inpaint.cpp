#include "inpaint.h"

#include <cmath>

#include "core/error.h"

namespace sd::runtime {

void keep_unmasked(float* x, int64_t n, const std::vector<float>& kept, const std::vector<float>& repaint) {
  const int64_t plane = int64_t(repaint.size()), image = int64_t(kept.size());
  if (plane == 0 || image % plane || n % image) throw Error("inpaint mask does not match the latent");
  for (int64_t i = 0; i < n; ++i) {
    const float m = repaint[size_t(i % plane)];
    x[i] = x[i] * m + kept[size_t(i % image)] * (1.0f - m);
  }
}

void KeepUnmaskedDenoiser::denoise(const float* x, float sigma, float* denoised) {
  inner_.denoise(x, sigma, denoised);
  keep_unmasked(denoised, n_, kept_, repaint_);
}

std::vector<float> masked_image_pixels(const InitImage* image, const InpaintMask* mask, int width, int height) {
  const size_t plane = size_t(width) * size_t(height);
  std::vector<float> out(3 * plane, 0.0f);  // fully masked: 0 is mid-gray in [−1, 1]
  if (!image || !mask) return out;
  if (image->width != width || image->height != height || mask->pixels.size() != plane) throw Error("inpaint mask and image differ in size");
  for (size_t p = 0; p < plane; ++p) {
    if (mask->pixels[p] >= 128) continue;  // round(m/255) = 1 from 127.5 up: 128..255
    for (size_t c = 0; c < 3; ++c) out[c * plane + p] = image->rgb[p * 3 + c] / 127.5f - 1.0f;
  }
  return out;
}

std::vector<float> conditioning_mask(const InpaintMask* mask, int width, int height, int downscale) {
  const int h = height / downscale, w = width / downscale;
  std::vector<float> out(size_t(h) * size_t(w), 1.0f);
  if (!mask) return out;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) out[size_t(i) * w + j] = mask->pixels[size_t(i) * downscale * width + size_t(j) * downscale] >= 128 ? 1.0f : 0.0f;
  return out;
}

}  // namespace sd::runtime
