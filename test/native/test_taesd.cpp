// TAESD against the reference taesd.py (test/fixtures/generators/taesd_golden.py): seeded random
// weights under "decoder." / "encoder.", every stored layer output and the final outputs by rel-L2.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/error.h"
#include "golden.h"
#include "model/taesd.h"
#include "runtime/taesd_decode.h"

using namespace sd;

namespace {

constexpr double kTol = 1e-5;

// Plans out's graph, writes data into in, runs it and compares the watched nodes.
void run(golden::Watch& watch, Tensor* in, Tensor* out, const std::vector<float>& data) {
  cpu::CpuBackend backend;
  Graph g(backend, {out});
  g.plan();
  CHECK_MSG(int64_t(data.size()) == in->numel(), "input size");
  std::memcpy(in->data, data.data(), data.size() * 4);
  watch.attach(g);
  g.compute();
  watch.require_all_seen();
}

// One half against its golden: every tapped layer and the output; the watched names follow the layer indices.
void part_case(const std::shared_ptr<io::SafetensorsFile>& f, model::Taesd::Part part, std::vector<int> taps,
               std::initializer_list<int64_t> in_shape, const std::vector<int64_t>& out_shape) {
  const bool dec = part == model::Taesd::Part::Decoder;
  const std::string name = dec ? "decoder" : "encoder";
  auto wctx = std::make_shared<Context>();
  model::Taesd net(model::Weights(f, wctx, name + "."), part);
  CHECK(net.latent_channels() == 4);
  CHECK(net.factor() == 8);
  golden::Watch watch{*f, {}, kTol, "taesd " + name, {}};
  for (int i : taps) watch.node_to_key.emplace("taesd." + name + "." + std::to_string(i), "golden.intermediate." + name + "." + std::to_string(i));
  watch.node_to_key.emplace("taesd." + name + "." + (dec ? "19" : "14"), dec ? "golden.output.decoded" : "golden.output.encoded");
  Context ctx;
  Tensor* x = ctx.new_tensor(DType::F32, in_shape, "input");
  Tensor* out = net.forward(ctx, x);
  CHECK(std::vector<int64_t>(out->shape, out->shape + 4) == out_shape);
  run(watch, x, out, golden::floats(*f, dec ? "golden.input.latent" : "golden.input.image"));
  std::printf("taesd %s: %zu tensors compared, worst rel L2 %.2e\n", name.c_str(), watch.errors.size(), watch.worst());
}

// The runtime's byte images (previews: RGB, final decode: RGBA) are the golden decode clamped to
// [0, 1], scaled to 255 and rounded: each byte within 0.75 of the golden value (0.5 of rounding,
// 0.25 for our float error near a tie: measured up to 0.09 of a byte with every conv direct, 0.11
// with the 32x32+ convs on Winograd under qemu-aarch64, 0.23 when its 16x16 64-channel convs took
// Winograd too), alpha opaque. A scale or rounding slip moves bytes by 1 or more.
void images_case(const std::shared_ptr<io::SafetensorsFile>& f) {
  auto wctx = std::make_shared<Context>();
  model::Taesd dec(model::Weights(f, wctx, "decoder."), model::Taesd::Part::Decoder);
  cpu::CpuBackend backend;
  runtime::TaesdImages images(dec, backend, 16, 16);
  CHECK(images.width() == 128 && images.height() == 128);
  const std::vector<float> latent = golden::floats(*f, "golden.input.latent");
  const std::vector<float> want = golden::floats(*f, "golden.output.decoded");
  const int64_t plane = 128 * 128;
  for (int channels : {3, 4}) {
    std::vector<uint8_t> got;
    images.decode(latent.data(), channels, got);
    CHECK(int64_t(got.size()) == plane * channels);
    int64_t off = 0, interior = 0;
    for (int64_t p = 0; p < plane; ++p) {
      for (int c = 0; c < 3; ++c) {
        const float v = std::min(1.0f, std::max(0.0f, want[size_t(c * plane + p)])) * 255.0f;
        interior += v > 0 && v < 255;
        off += std::fabs(float(got[size_t(p * channels + c)]) - v) > 0.75f;
      }
      if (channels == 4) off += got[size_t(p * 4 + 3)] != 255;
    }
    CHECK_MSG(off == 0, std::to_string(off) + " bytes differ from the golden decode (" + std::to_string(channels) + " channels)");
    CHECK_MSG(interior > 200, "too few unclamped pixels to test the rounding: " + std::to_string(interior));
  }
}

// A decoder file is not an encoder, and a KL VAE is neither: both are refused by name.
void refuses_other_layouts(const std::shared_ptr<io::SafetensorsFile>& f, const std::string& dir) {
  auto wctx = std::make_shared<Context>();
  auto refused = [&](std::shared_ptr<io::SafetensorsFile> file, const std::string& prefix, bool decoder) {
    try {
      model::Taesd net(model::Weights(file, wctx, prefix), decoder ? model::Taesd::Part::Decoder : model::Taesd::Part::Encoder);
    } catch (const Error& e) {
      return std::string(e.what()).find("TAESD") != std::string::npos;
    }
    return false;
  };
  CHECK_MSG(refused(f, "decoder.", false), "a TAESD decoder loaded as an encoder");
  CHECK_MSG(refused(f, "encoder.", true), "a TAESD encoder loaded as a decoder");
  CHECK_MSG(refused(std::shared_ptr<io::SafetensorsFile>(io::SafetensorsFile::open(dir + "/vae_tiny.safetensors")), "first_stage_model.decoder.", true), "a KL VAE loaded as TAESD");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "test/fixtures";
  try {
    std::shared_ptr<io::SafetensorsFile> f = io::SafetensorsFile::open(dir + "/taesd_golden.safetensors");
    part_case(f, model::Taesd::Part::Decoder, {2, 5, 7, 12}, {1, 4, 16, 16}, {1, 3, 128, 128});
    part_case(f, model::Taesd::Part::Encoder, {2, 6, 10, 13}, {1, 3, 64, 64}, {1, 4, 8, 8});
    images_case(f);
    refuses_other_layouts(f, dir);
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("exception: ") + e.what());
  }
  return harness::finish("test_taesd");
}
