// A1111's "Tiling": the tiny golden SD1 UNet and VAE with every conv padding circularly, against the
// CompVis modules switched the same way (test/fixtures/generators/seamless_golden.py). The models
// are built once and switched per graph, as a generation does, so zeros after circular is checked too.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "golden.h"
#include "harness.h"
#include "model/unet.h"
#include "model/vae.h"

using namespace sd;

namespace {

constexpr double kTol = 1e-5;
std::string dir;

double rel_l2(const float* got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

using Inputs = std::vector<std::pair<Tensor*, const std::vector<float>*>>;

// Builds out from in on the CPU (build may add further inputs), runs it on data and returns out's
// rel-L2 against want.
template <typename Build>
double run(const std::vector<int64_t>& in_shape, const std::vector<float>& data, const std::vector<float>& want, Build build) {
  Context ctx;
  Tensor* in = ctx.new_tensor(DType::F32, int(in_shape.size()), in_shape.data(), "in");
  Inputs inputs{{in, &data}};
  Tensor* out = build(ctx, in, inputs);
  cpu::CpuBackend backend;
  Graph g(backend, {out});
  g.plan();
  for (auto& [t, v] : inputs) std::memcpy(t->data, v->data(), v->size() * 4);
  g.compute();
  CHECK_MSG(size_t(out->numel()) == want.size(), "output size");
  return rel_l2(out->ptr<float>(), want);
}

void check(const char* what, double err, bool want_match) {
  std::printf("  %-34s rel L2 %.2e\n", what, err);
  CHECK_MSG(want_match ? err <= kTol : err > 1e-2, std::string(what) + (want_match ? ": above 1e-5" : ": padding mode had no effect"));
}

void unet_case(const io::SafetensorsFile& g) {
  std::shared_ptr<io::SafetensorsFile> f = io::SafetensorsFile::open(dir + "/unet_sd1_tiny.safetensors");
  model::UNet unet(model::Weights(f, std::make_shared<Context>(), "model.diffusion_model."), 2, 0);
  const std::vector<float> t = golden::floats(g, "golden.input.timesteps"), c = golden::floats(g, "golden.input.context");
  auto eps = [&](Padding mode, const char* want) {
    unet.set_padding(mode);
    return run({2, 4, 16, 16}, golden::floats(g, "golden.input.x"), golden::floats(g, want), [&](Context& ctx, Tensor* x, Inputs& in) {
      Tensor* tt = ctx.new_tensor(DType::F32, {2}, "t");
      Tensor* cc = ctx.new_tensor(DType::F32, {2, 77, 64}, "context");
      in.push_back({tt, &t});
      in.push_back({cc, &c});
      return unet.forward(ctx, x, tt, cc, nullptr);
    });
  };
  check("unet circular vs reference", eps(Padding::Circular, "golden.output.unet_eps"), true);
  check("unet zeros vs circular reference", eps(Padding::Zeros, "golden.output.unet_eps"), false);
  check("unet zeros again vs zeros golden", eps(Padding::Zeros, "golden.reference.unet_eps_zeros"), true);
}

void vae_case(const io::SafetensorsFile& g) {
  std::shared_ptr<io::SafetensorsFile> f = io::SafetensorsFile::open(dir + "/vae_tiny.safetensors");
  model::Vae vae(model::Weights(f, std::make_shared<Context>(), "first_stage_model."));
  vae.set_padding(Padding::Circular);
  check("vae encode circular vs reference",
        run({1, 3, 32, 32}, golden::floats(g, "golden.input.image"), golden::floats(g, "golden.output.vae_moments"),
            [&](Context& ctx, Tensor* x, Inputs&) { return vae.encode(ctx, x); }), true);
  check("vae decode circular vs reference",
        run({1, 4, 16, 16}, golden::floats(g, "golden.input.z"), golden::floats(g, "golden.output.vae_decoded"),
            [&](Context& ctx, Tensor* z, Inputs&) { return vae.decode(ctx, z); }), true);
  vae.set_padding(Padding::Zeros);
  check("vae decode zeros vs zeros golden",
        run({1, 4, 16, 16}, golden::floats(g, "golden.input.z"), golden::floats(g, "golden.reference.vae_decoded_zeros"),
            [&](Context& ctx, Tensor* z, Inputs&) { return vae.decode(ctx, z); }), true);
}

}  // namespace

int main(int argc, char** argv) {
  dir = argc > 1 ? argv[1] : "test/fixtures";
  try {
    auto g = io::SafetensorsFile::open(dir + "/seamless_golden.safetensors");
    std::printf("seamless_golden.safetensors (limit %.0e):\n", kTol);
    unet_case(*g);
    vae_case(*g);
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("exception: ") + e.what());
  }
  return harness::finish("test_seamless");
}
