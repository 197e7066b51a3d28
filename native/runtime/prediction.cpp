#include "prediction.h"

#include <vector>

#include "unet_runner.h"

namespace sd::runtime {
namespace {

std::string from_metadata(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) return "";
  const std::string& v = it->second;
  if (v == "v" || v == "v_prediction" || v == "v-prediction" || v == "velocity") return "v";
  if (v == "epsilon" || v == "eps") return "eps";
  return "";  // "sample", "flow", typos: not ours to guess from
}

}  // namespace

std::string declared_prediction(const io::SafetensorsFile& f) {
  if (f.find("v_pred")) return "v";
  const auto& meta = f.metadata();
  if (std::string p = from_metadata(meta, "modelspec.prediction_type"); !p.empty()) return p;
  auto arch = meta.find("modelspec.architecture");
  if (arch != meta.end() && arch->second.size() > 2 && arch->second.compare(arch->second.size() - 2, 2, "-v") == 0) return "v";
  return from_metadata(meta, "sd_native.prediction");
}

bool unet_probe_says_v(const model::UNet& unet, Backend& backend, double* mean_out) {
  const int64_t c = unet.config().out_channels, side = 8, n = c * side * side;
  UNetRunner runner(unet, backend);
  runner.set_latent_shape(c, side, side);
  runner.set_conditioning(std::vector<float>(size_t(2 * unet.config().context_dim), 0.5f), 2, {});
  std::vector<float> x(static_cast<size_t>(n), 0.5f), out(static_cast<size_t>(n));
  runner.forward(x.data(), 1, 999.0f, out.data());
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(out[size_t(i)]) - double(x[size_t(i)]);
  const double mean = sum / double(n);
  if (mean_out) *mean_out = mean;
  return mean < -1.0;
}

}  // namespace sd::runtime
