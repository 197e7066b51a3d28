// The emulated device: its memory is the device's alone (a host read of a planned tensor faults),
// weights go up once in their stored dtype (again only after forget_weights(), into the space the forgotten
// copy held), transfers are counted exactly even when read while another thread transfers, and results are
// the CPU's.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/emulated/emulated_backend.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"
#include "harness.h"

using namespace sd;

namespace {

struct Model {
  Context ctx;
  std::vector<uint16_t> weight;  // f16 [16, 32], host memory like a mapped checkpoint
  Tensor *x, *w, *out;
  Model() : weight(16 * 32) {
    for (size_t i = 0; i < weight.size(); ++i) weight[i] = f32_to_f16(float(int(i % 13) - 6) / 8.0f);
    x = ctx.new_tensor(DType::F32, {4, 32}, "x");
    w = ctx.new_tensor(DType::F16, {16, 32}, "w");
    w->data = weight.data();
    out = silu(ctx, linear(ctx, x, w, nullptr));
  }
};

std::vector<float> input(float shift) {
  std::vector<float> v(4 * 32);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(int(i % 7) - 3) / 4.0f + shift;
  return v;
}

std::vector<float> run(Backend& backend, Model& m, Graph& g, const std::vector<float>& x) {
  backend.upload(m.x, x.data(), m.x->nbytes());
  g.compute();
  std::vector<float> out(size_t(m.out->numel()));
  backend.download(m.out, out.data(), m.out->nbytes());
  return out;
}

// True when reading `p` from the host kills a child process with SIGSEGV.
bool host_read_faults(const void* p) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn the fault into an exit code
    volatile const char* c = static_cast<const char*>(p);
    const char v = *c;
    _exit(v == 0x7f ? 3 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

}  // namespace

int main() {
  cpu::CpuOptions opt;
  opt.threads = 2;
  Model a, b;
  cpu::CpuBackend cpu(opt);
  emulated::EmulatedBackend dev(opt);
  Graph gc(cpu, {a.out}), gd(dev, {b.out});
  gc.plan();
  gd.plan();
  CHECK(dev.is_device_pointer(b.x->data) && dev.is_device_pointer(b.out->data));
  CHECK(!dev.is_device_pointer(b.w->data));  // the host weight stays where it is; the device has a copy
  CHECK(host_read_faults(b.out->data));
  CHECK(!host_read_faults(b.w->data));

  for (float shift : {0.0f, 0.5f}) {
    const std::vector<float> want = run(cpu, a, gc, input(shift)), got = run(dev, b, gd, input(shift));
    CHECK(want.size() == got.size() && std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
  }
  CHECK(b.w->data == b.weight.data());  // compute() swaps in the device copy only while a node runs
  const TransferStats t = dev.transfers();
  CHECK(t.weight_uploads == 1);
  CHECK(t.weight_bytes == int64_t(16 * 32 * 2));  // kept f16
  CHECK(t.uploads == 2 && t.upload_bytes == 2 * 4 * 32 * 4);
  CHECK(t.downloads == 2 && t.download_bytes == 2 * 4 * 16 * 4);
  const TransferStats none = cpu.transfers();
  CHECK(none.uploads == 0 && none.weight_uploads == 0);

  // New bytes at the same host address (a freed LoRA buffer reused): without forget_weights() the device
  // would keep computing with the old copy; after it, the weight goes up again.
  for (Model* m : {&a, &b})
    for (uint16_t& h : m->weight) h = f32_to_f16(0.25f);
  const std::vector<float> stale = run(dev, b, gd, input(0));
  dev.forget_weights(b.weight.data(), b.weight.size() * sizeof(uint16_t));
  const std::vector<float> want = run(cpu, a, gc, input(0)), fresh = run(dev, b, gd, input(0));
  CHECK(std::memcmp(want.data(), fresh.data(), want.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(want.data(), stale.data(), want.size() * sizeof(float)) != 0);
  CHECK(dev.transfers().weight_uploads == 2);
  // The forgotten copy's block is reused: the device holds one copy's aligned bytes, as before.
  CHECK(dev.weight_bytes() == 16 * 32 * 2);
  const size_t mapped = dev.device_bytes();
  for (int i = 0; i < 8; ++i) {
    dev.forget_weights(b.weight.data(), b.weight.size() * sizeof(uint16_t));
    run(dev, b, gd, input(0));
  }
  CHECK(dev.weight_bytes() == 16 * 32 * 2 && dev.device_bytes() == mapped);
  CHECK(dev.transfers().weight_uploads == 10);

  // transfers() read on one thread while another uploads (the addon's transfers() during a
  // generate()): every snapshot pairs each count with its bytes, and no increment is lost.
  {
    const TransferStats start = dev.transfers();
    constexpr int kUploads = 4000;
    std::atomic<bool> done{false};
    std::thread worker([&] {
      const std::vector<float> x = input(0);
      for (int i = 0; i < kUploads; ++i) dev.upload(b.x, x.data(), 4 * sizeof(float));
      done = true;
    });
    int torn = 0, reads = 0;
    while (!done) {
      const TransferStats s = dev.transfers();
      torn += (s.upload_bytes - start.upload_bytes) != (s.uploads - start.uploads) * int64_t(4 * sizeof(float));
      ++reads;
    }
    worker.join();
    const TransferStats end = dev.transfers();
    CHECK_MSG(torn == 0, std::to_string(torn) + " of " + std::to_string(reads) + " concurrent reads saw a count without its bytes");
    CHECK(end.uploads - start.uploads == kUploads && end.upload_bytes - start.upload_bytes == int64_t(kUploads) * 4 * int64_t(sizeof(float)));
  }

  // A tensor planned on another backend is not device memory: an error, not a silent host write.
  bool threw = false;
  try {
    std::vector<float> x = input(0);
    dev.upload(a.x, x.data(), a.x->nbytes());
  } catch (const Error& e) {
    threw = std::strstr(e.what(), "not in device memory") != nullptr;
  }
  CHECK(threw);
  threw = false;
  try {
    Graph wrong(dev, {a.out});  // a's nodes carry the CPU arena's addresses until planned here
    for (Tensor* n : wrong.nodes())
      if (n->op != Op::None) {
        dev.compute(n);
        break;
      }
  } catch (const Error& e) {
    threw = std::strstr(e.what(), "plan the graph on this backend") != nullptr;
  }
  CHECK(threw);
  return harness::finish("test_emulated");
}
