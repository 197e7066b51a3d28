// Circular (wrap-around) padding of image planes, so a circular convolution runs as the ordinary
// zero-padded implicit GEMM over a padded copy: torch's padding_mode='circular', A1111's tiling.
#pragma once
#include <cstdint>

namespace sd::cpu {

// x: planes × [h, w] contiguous -> out: planes × [h + top + bottom, w + left + right], where
// out[r][c] = x[(r - top) mod h][(c - left) mod w]. Pads must be at most h (top, bottom) and w.
void circular_pad(const float* x, int64_t planes, int64_t h, int64_t w, int top, int left, int bottom, int right, float* out);

}  // namespace sd::cpu
