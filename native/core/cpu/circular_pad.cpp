#include "circular_pad.h"

#include <cstring>

namespace sd::cpu {

void circular_pad(const float* x, int64_t planes, int64_t h, int64_t w, int top, int left, int bottom, int right, float* out) {
  const int64_t ph = h + top + bottom, pw = w + left + right;
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = x + p * h * w;
    float* dst = out + p * ph * pw;
    for (int64_t r = 0; r < ph; ++r) {
      const float* row = src + ((r - top + h) % h) * w;  // top/bottom <= h keeps r - top + h >= 0
      float* o = dst + r * pw;
      // [last `left` columns | the row | first `right` columns]
      std::memcpy(o, row + w - left, size_t(left) * 4);
      std::memcpy(o + left, row, size_t(w) * 4);
      std::memcpy(o + left + w, row, size_t(right) * 4);
    }
  }
}

}  // namespace sd::cpu
