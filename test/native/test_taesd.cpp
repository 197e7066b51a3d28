// TAESD against the reference taesd.py (test/fixtures/generators/taesd_golden.py): seeded random
// weights under "decoder." / "encoder.", every stored layer output and the final outputs by rel-L2.
#include <cstring>
#include <memory>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/error.h"
#include "golden.h"
#include "model/taesd.h"

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
    refuses_other_layouts(f, dir);
  } catch (const std::exception& e) {
    CHECK_MSG(false, std::string("exception: ") + e.what());
  }
  return harness::finish("test_taesd");
}
