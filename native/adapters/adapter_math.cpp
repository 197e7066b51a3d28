#include "adapter_math.h"

#include <cmath>

#include "core/error.h"

namespace sd::adapters {
namespace {

using Mat = std::vector<float>;

// C[m, n] = A[m, k] · B[k, n], row major. Accumulates in double: merged weights are computed once
// per set and the goldens ask for 1e-5.
Mat matmul(const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  Mat c(static_cast<size_t>(m * n));
  std::vector<double> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t p = 0; p < k; ++p) {
      const double av = a[i * k + p];
      if (av == 0) continue;
      const float* br = b + p * n;
      for (int64_t j = 0; j < n; ++j) row[size_t(j)] += av * br[j];
    }
    for (int64_t j = 0; j < n; ++j) c[size_t(i * n + j)] = float(row[size_t(j)]);
  }
  return c;
}

const Array& need(const AdapterModule& m, const char* suffix) {
  const Array* a = m.find(suffix);
  if (!a) throw Error(std::string("adapter module lacks its \"") + suffix + "\" tensor");
  return *a;
}

// lyco_helpers.make_weight_cp: core t[R, R2, kh, kw], wa[R, out], wb[R2, in] -> [out, in, kh, kw].
Mat make_weight_cp(const Array& t, const Array& wa, const Array& wb) {
  const int64_t r = t.shape.at(0), r2 = t.shape.at(1), kk = t.numel() / (r * r2);
  const int64_t in = wb.cols(), out = wa.cols();
  if (wa.rows() != r || wb.rows() != r2) throw Error("adapter module: the Tucker core's ranks do not match its factors");
  // temp[i, c, kl] = Σ_j t[i, j, kl] wb[j, c]
  Mat temp(size_t(r * in * kk), 0.0f);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r2; ++j)
      for (int64_t c = 0; c < in; ++c) {
        const float w = wb.data[size_t(j * in + c)];
        for (int64_t kl = 0; kl < kk; ++kl) temp[size_t((i * in + c) * kk + kl)] += t.data[size_t((i * r2 + j) * kk + kl)] * w;
      }
  // result[o, c, kl] = Σ_i wa[i, o] temp[i, c, kl]
  Mat out_w(size_t(out * in * kk), 0.0f);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t o = 0; o < out; ++o) {
      const float w = wa.data[size_t(i * out + o)];
      if (w == 0) continue;
      for (int64_t q = 0; q < in * kk; ++q) out_w[size_t(o * in * kk + q)] += w * temp[size_t(i * in * kk + q)];
    }
  return out_w;
}

Mat product(const Array& a, const Array& b) {
  if (a.cols() != b.rows()) throw Error("adapter module: factor shapes do not chain (" + std::to_string(a.cols()) + " vs " + std::to_string(b.rows()) + ")");
  return matmul(a.data.data(), b.data.data(), a.rows(), a.cols(), b.cols());
}

// LoRA / LoCon: returns the update and sets dim (the rank alpha divides by).
Mat lora_updown(const AdapterModule& m, std::optional<int64_t>& dim) {
  const Array& up = need(m, "lora_up.weight");
  const Array& down = need(m, "lora_down.weight");
  dim = down.rows();
  if (const Array* mid = m.find("lora_mid.weight")) {
    // einsum('n m k l, i n, m j -> i j k l', mid, up, down)
    const int64_t out = up.rows(), rn = up.cols(), rm = down.rows(), in = down.cols();
    if (mid->shape.size() < 2 || mid->shape[0] != rn || mid->shape[1] != rm) throw Error("adapter module: lora_mid does not match lora_up/lora_down");
    const int64_t kk = mid->numel() / (rn * rm);
    Mat t(size_t(rn * in * kk), 0.0f);  // t[n, j, kl] = Σ_m mid[n, m, kl] down[m, j]
    for (int64_t n = 0; n < rn; ++n)
      for (int64_t mm = 0; mm < rm; ++mm)
        for (int64_t j = 0; j < in; ++j) {
          const float d = down.data[size_t(mm * in + j)];
          for (int64_t kl = 0; kl < kk; ++kl) t[size_t((n * in + j) * kk + kl)] += mid->data[size_t((n * rm + mm) * kk + kl)] * d;
        }
    return matmul(up.data.data(), t.data(), out, rn, in * kk);
  }
  return product(up, down);
}

Mat loha_updown(const AdapterModule& m, std::optional<int64_t>& dim) {
  const Array &w1a = need(m, "hada_w1_a"), &w1b = need(m, "hada_w1_b"), &w2a = need(m, "hada_w2_a"), &w2b = need(m, "hada_w2_b");
  dim = w1b.rows();
  const Array* t1 = m.find("hada_t1");
  const Array* t2 = m.find("hada_t2");
  Mat u1 = t1 ? make_weight_cp(*t1, w1a, w1b) : product(w1a, w1b);
  Mat u2 = t2 ? make_weight_cp(*t2, w2a, w2b) : product(w2a, w2b);
  if (u1.size() != u2.size()) throw Error("adapter module: the two Hadamard factors have different sizes");
  for (size_t i = 0; i < u1.size(); ++i) u1[i] *= u2[i];
  return u1;
}

// A matrix operand given whole ("lokr_w1") or as a low-rank product ("lokr_w1_a"·"lokr_w1_b").
struct Operand { Mat data; int64_t rows = 0, cols = 0; };

Operand lokr_operand(const AdapterModule& m, const std::string& base, const Array* core) {
  if (const Array* whole = m.find(base)) return {whole->data, whole->rows(), whole->cols()};
  const Array& a = need(m, (base + "_a").c_str());
  const Array& b = need(m, (base + "_b").c_str());
  if (core) {
    Mat w = make_weight_cp(*core, a, b);
    const int64_t rows = a.cols(), cols = int64_t(w.size()) / rows;
    return {std::move(w), rows, cols};
  }
  return {product(a, b), a.rows(), b.cols()};
}

Mat lokr_updown(const AdapterModule& m, std::optional<int64_t>& dim) {
  if (const Array* b = m.find("lokr_w1_b")) dim = b->rows();
  if (const Array* b = m.find("lokr_w2_b")) dim = b->rows();
  const Operand w1 = lokr_operand(m, "lokr_w1", nullptr);
  const Operand w2 = lokr_operand(m, "lokr_w2", m.find("lokr_t2"));
  // kron(w1, w2) as a [w1.rows·w2.rows, w1.cols·w2.cols] matrix: a conv's kernel taps sit in w2's
  // columns, so this is the same layout as torch.kron of w1[:, :, None, None] and the 4-d w2.
  const int64_t rows = w1.rows * w2.rows, cols = w1.cols * w2.cols;
  Mat out(size_t(rows * cols));
  for (int64_t i = 0; i < w1.rows; ++i)
    for (int64_t j = 0; j < w1.cols; ++j) {
      const float s = w1.data[size_t(i * w1.cols + j)];
      for (int64_t p = 0; p < w2.rows; ++p) {
        float* dst = out.data() + (i * w2.rows + p) * cols + j * w2.cols;
        const float* src = w2.data.data() + p * w2.cols;
        for (int64_t q = 0; q < w2.cols; ++q) dst[q] = s * src[q];
      }
    }
  return out;
}

// DoRA (weight decomposition): the merged weight's columns are rescaled to the stored magnitudes.
// A1111 and kohya store one magnitude per input column ([1, in, ...]); PEFT/LyCORIS files that store
// one per output row ([out, 1, ...]) are normalised per row.
void apply_dora(Mat& updown, const float* current, const Array& magnitude, const std::vector<int64_t>& shape, const std::string& what) {
  const int64_t out = shape[0];
  const int64_t per_out = int64_t(updown.size()) / out;                  // in · kh · kw
  const int64_t in = shape.size() > 1 ? shape[1] : 1, taps = per_out / in;  // kh · kw
  std::vector<double> merged(updown.size());
  for (size_t i = 0; i < updown.size(); ++i) merged[i] = double(updown[i]) + current[i];
  if (magnitude.numel() == in) {
    std::vector<double> norm(size_t(in), 0.0);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t c = 0; c < in; ++c)
        for (int64_t t = 0; t < taps; ++t) { const double v = merged[size_t(o * per_out + c * taps + t)]; norm[size_t(c)] += v * v; }
    for (int64_t o = 0; o < out; ++o)
      for (int64_t c = 0; c < in; ++c)
        for (int64_t t = 0; t < taps; ++t) {
          const size_t k = size_t(o * per_out + c * taps + t);
          updown[k] = float(merged[k] * (magnitude.data[size_t(c)] / std::sqrt(norm[size_t(c)])) - current[k]);
        }
  } else if (magnitude.numel() == out) {
    for (int64_t o = 0; o < out; ++o) {
      double norm = 0;
      for (int64_t q = 0; q < per_out; ++q) norm += merged[size_t(o * per_out + q)] * merged[size_t(o * per_out + q)];
      const double s = magnitude.data[size_t(o)] / std::sqrt(norm);
      for (int64_t q = 0; q < per_out; ++q) updown[size_t(o * per_out + q)] = float(merged[size_t(o * per_out + q)] * s - current[size_t(o * per_out + q)]);
    }
  } else {
    throw Error(what + ": dora_scale has " + std::to_string(magnitude.numel()) + " values; the weight has " + std::to_string(in) +
                " input and " + std::to_string(out) + " output channels");
  }
}

}  // namespace

int64_t Array::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const Array* AdapterModule::find(const std::string& suffix) const {
  auto it = w.find(suffix);
  return it == w.end() ? nullptr : &it->second;
}

std::optional<ModuleKind> module_kind(const std::map<std::string, Array>& w) {
  auto has = [&](const char* k) { return w.count(k) != 0; };
  if (has("lora_up.weight") && has("lora_down.weight")) return ModuleKind::LoRA;
  if (has("hada_w1_a") && has("hada_w1_b") && has("hada_w2_a") && has("hada_w2_b")) return ModuleKind::LoHa;
  const bool w1 = has("lokr_w1") || (has("lokr_w1_a") && has("lokr_w1_b"));
  const bool w2 = has("lokr_w2") || (has("lokr_w2_a") && has("lokr_w2_b"));
  if (w1 && w2) return ModuleKind::LoKr;
  return std::nullopt;
}

std::vector<float> weight_delta(const AdapterModule& m, const std::vector<int64_t>& target_shape, const float* current,
                                float multiplier, const std::string& what) {
  std::optional<int64_t> dim;
  Mat updown;
  try {
    switch (m.kind) {
      case ModuleKind::LoRA: updown = lora_updown(m, dim); break;
      case ModuleKind::LoHa: updown = loha_updown(m, dim); break;
      case ModuleKind::LoKr: updown = lokr_updown(m, dim); break;
    }
  } catch (const Error& e) {
    throw Error(what + ": " + e.what());
  }
  int64_t numel = 1;
  for (int64_t d : target_shape) numel *= d;
  if (int64_t(updown.size()) != numel) {
    std::string shape;
    for (int64_t d : target_shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    throw Error(what + ": its update has " + std::to_string(updown.size()) + " values but the model's weight is [" + shape +
                "] (" + std::to_string(numel) + "); the adapter was made for another model");
  }
  const float scale = m.scale ? *m.scale : (m.alpha && dim && *dim > 0) ? *m.alpha / float(*dim) : 1.0f;
  for (float& v : updown) v *= scale;
  if (const Array* magnitude = m.find("dora_scale")) apply_dora(updown, current, *magnitude, target_shape, what);
  for (float& v : updown) v *= multiplier;
  return updown;
}

}  // namespace sd::adapters
