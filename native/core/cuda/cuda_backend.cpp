// CudaBackend: device memory (arenas, the weight pool, scratch), the host-weight cache,
// uploads/downloads, and the one dispatch switch from Op to the kernel launchers.
#include "cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../block_pool.h"
#include "../device_weights.h"
#include "../error.h"
#include "../ops.h"
#include "attention.cuh"
#include "conv.cuh"
#include "cuda_util.h"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "gemm.cuh"
#include "movement.cuh"
#include "norm.cuh"

namespace sd::cuda {
namespace {

constexpr size_t kWeightChunk = size_t(256) << 20;  // weights are sub-allocated from 256 MiB chunks
constexpr size_t kWeightAlign = 256;

std::string label(const Tensor* t) { return tensor_label(t); }
std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

int to_int(int64_t v, const char* what) {
  if (v < 0 || v >= (int64_t(1) << 31)) throw Error(std::string("cuda: ") + what + " " + std::to_string(v) + " exceeds the 32-bit kernel limit");
  return int(v);
}

// Scratch slots: one buffer each, reused across nodes; a node never takes a slot twice.
enum Slot { kSlotParam0, kSlotParam1, kSlotInput, kSlotResidual, kSlotNorm, kSlotAttention, kSlotCount };

}  // namespace

struct CudaBackend::Impl {
  CudaOptions opt;
  DeviceInfo info;
  DeviceCaps caps;
  cudaStream_t stream = nullptr;
  std::map<uintptr_t, size_t> ranges;  // every device allocation of this backend: base -> bytes
  BlockPool pool{kWeightChunk, kWeightAlign};                    // weight copies and f32 parameters
  WeightCopies weights{[this](const void* host, void* d, size_t bytes) { release(host, d, bytes); }};  // storage host address -> device copy
  std::map<std::pair<const void*, int64_t>, float*> f32_params;  // (host address, numel) -> f32 copy
  TransferCounter transfers;  // host <-> device copies, read by the addon while a generate() runs
  std::pair<void*, size_t> scratch[kSlotCount] = {};

  void bind() const { SD_CUDA_CHECK(cudaSetDevice(opt.device)); }

  bool is_device(const void* p) const {
    const uintptr_t u = reinterpret_cast<uintptr_t>(p);
    auto it = ranges.upper_bound(u);
    if (it == ranges.begin()) return false;
    --it;
    return u < it->first + it->second;
  }

  void* device_malloc(size_t bytes, const std::string& what) {
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      (void)cudaGetLastError();
      throw Error("out of GPU memory: " + what + " needs " + mib(bytes) + " but " + info.name + " has " + mib(free_b) +
                  " free of " + mib(total_b) + " (" + mib(pool.used_bytes()) + " held by this model's weights); try a smaller "
                  "width/height or batch size, enable VAE tiling, close other programs using the GPU, or use the CPU backend");
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    ranges[reinterpret_cast<uintptr_t>(p)] = std::max<size_t>(bytes, 1);
    return p;
  }

  void device_free(void* p) noexcept {
    if (!p) return;
    ranges.erase(reinterpret_cast<uintptr_t>(p));
    cudaFree(p);  // synchronises the device; errors here cannot be acted upon
    (void)cudaGetLastError();
  }

  // A weight copy is dropped: its pool space, and that of the f32 parameter copies made from its
  // storage, goes to the free list for the next uploads.
  void release(const void* host, void* d, size_t bytes) {
    pool.release(d);
    const uintptr_t lo = reinterpret_cast<uintptr_t>(host), hi = lo + bytes;
    for (auto p = f32_params.begin(); p != f32_params.end();) {
      const uintptr_t a = reinterpret_cast<uintptr_t>(p->first.first);
      if (a >= lo && a < hi) {
        pool.release(p->second);
        p = f32_params.erase(p);
      } else {
        p = std::next(p);
      }
    }
  }

  // Space freed by forgotten copies is reused before a new chunk is allocated; reuse is safe without
  // a sync, as every kernel and copy runs on `stream`, in order.
  void* pool_alloc(size_t bytes) {
    return pool.alloc(bytes, [&](size_t size) { return device_malloc(size, "the model weights (" + mib(pool.used_bytes()) + " uploaded so far)"); });
  }

  void* scratch_buf(size_t bytes, Slot slot) {
    auto& s = scratch[slot];
    if (s.second < bytes) {
      SD_CUDA_CHECK(cudaStreamSynchronize(stream));  // queued kernels may still read the old buffer
      device_free(s.first);
      s = {nullptr, 0};
      const size_t size = (bytes + bytes / 4 + (1 << 20) - 1) >> 20 << 20;
      s = {device_malloc(size, "scratch memory"), size};
    }
    return s.first;
  }

  // Device address of a tensor's data. Host data (a weight leaf in the mapped checkpoint, or a
  // view of one) is uploaded once per storage and cached by the storage's host address.
  const void* dev(const Tensor* t) {
    if (!t) return nullptr;
    if (t->numel() == 0) return t->data;
    if (!t->data) throw Error("cuda: tensor " + label(t) + " has no memory; plan the graph on this backend first");
    if (is_device(t->data)) return t->data;
    return weights.device_address(t, "cuda", transfers, [&](const char* host, size_t bytes) {
      void* d = pool_alloc(bytes);
      SD_CUDA_CHECK(cudaMemcpyAsync(d, host, bytes, cudaMemcpyHostToDevice, stream));
      return d;
    });
  }

  // A contiguous f32 copy of any float tensor (or the tensor itself when it already is one).
  const float* contiguous_f32(const Tensor* t, Slot slot) {
    if (!t) return nullptr;
    const void* src = dev(t);
    if (t->dtype == DType::F32 && t->is_contiguous()) return static_cast<const float*>(src);
    float* out = static_cast<float*>(scratch_buf(size_t(t->numel()) * sizeof(float), slot));
    const Geom4 g = geom4(t);
    launch_unary(stream, Unary::Copy, src, t->dtype, g, out, g, t->numel());
    return out;
  }

  // Vector parameters (biases, norm weights): converted to f32 once per weight and cached.
  const float* param_f32(const Tensor* t, Slot slot) {
    if (!t) return nullptr;
    if (t->dtype == DType::F32 && t->is_contiguous()) return static_cast<const float*>(dev(t));
    if (is_device(t->data) || t->numel() == 0) return contiguous_f32(t, slot);  // computed this run
    const auto key = std::make_pair(static_cast<const void*>(t->data), t->numel());
    auto it = f32_params.find(key);
    if (it != f32_params.end()) return it->second;
    const void* src = dev(t);
    float* out = static_cast<float*>(pool_alloc(size_t(t->numel()) * sizeof(float)));
    const Geom4 g = geom4(t);
    launch_unary(stream, Unary::Copy, src, t->dtype, g, out, g, t->numel());
    f32_params[key] = out;
    return out;
  }

  // The fused epilogue of Linear and Conv2d: {bias src[2], residual src[3]}, each null if absent.
  std::pair<const float*, const float*> bias_residual(const Tensor* t) {
    return {param_f32(t->src[2], kSlotParam0), contiguous_f32(t->src[3], kSlotResidual)};
  }

  GemmConfig gemm_config() const { return {opt.precision, opt.gemm, caps.cc_major >= 8}; }

  void run(Tensor* t);
  void products(Tensor* t);
};

CudaBackend::CudaBackend(const CudaOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.opt = options;
  std::string why;
  if (!cuda_available(&why)) throw Error("the CUDA backend is unavailable: " + why);
  const int n = cuda_device_count();
  if (options.device < 0 || options.device >= n)
    throw Error("CUDA device " + std::to_string(options.device) + " does not exist (" + std::to_string(n) + " found)");
  I.bind();
  I.info = cuda_device_info(options.device);
  if (I.info.cc_major < 8)
    throw Error("GPU " + I.info.name + " has compute capability " + std::to_string(I.info.cc_major) + "." +
                std::to_string(I.info.cc_minor) + "; the CUDA backend needs 8.0 or newer (" + cuda_build_info() + ")");
  I.caps.cc_major = I.info.cc_major;
  I.caps.cc_minor = I.info.cc_minor;
  I.caps.sm_count = I.info.sm_count;
  I.caps.smem_optin = I.info.shared_per_block_optin;
  SD_CUDA_CHECK(cudaStreamCreateWithFlags(&I.stream, cudaStreamNonBlocking));
  const char* env = std::getenv("SD_CUDA_SYNC");
  if (env && env[0] == '1') I.opt.sync_each_op = true;
}

CudaBackend::~CudaBackend() {
  Impl& I = *impl_;
  cudaSetDevice(I.opt.device);
  if (I.stream) cudaStreamSynchronize(I.stream);
  for (const BlockPool::Chunk& c : I.pool.chunks()) I.device_free(c.base);
  for (auto& s : I.scratch) I.device_free(s.first);
  // Arenas still in `ranges` belong to graphs that outlive the backend; they are leaked, not freed
  // under the graph's feet.
  if (I.stream) cudaStreamDestroy(I.stream);
  (void)cudaGetLastError();
}

std::string CudaBackend::name() const {
  const char* prec = impl_->opt.precision == Precision::F32 ? "f32" : (impl_->opt.precision == Precision::Bf16 ? "bf16" : "f16");
  return "cuda:" + std::to_string(impl_->opt.device) + "/" + impl_->info.name + "/" + prec + "/" +
         gemm_kernel_name(impl_->gemm_config());
}

void* CudaBackend::alloc(size_t bytes) {
  impl_->bind();
  return impl_->device_malloc(bytes, "the graph's activations");
}

void CudaBackend::free(void* ptr) {
  if (!ptr) return;
  cudaSetDevice(impl_->opt.device);
  if (impl_->stream) cudaStreamSynchronize(impl_->stream);
  impl_->device_free(ptr);
}

void CudaBackend::upload(Tensor* t, const void* host, size_t bytes) {
  Impl& I = *impl_;
  if (bytes == 0) return;
  if (!t->data) throw Error("upload: tensor " + label(t) + " has no memory; call plan() first");
  if (bytes > t->nbytes()) throw Error("upload: " + std::to_string(bytes) + " bytes do not fit tensor " + label(t));
  I.bind();
  if (I.is_device(t->data)) {
    SD_CUDA_CHECK(cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice, I.stream));
    SD_CUDA_CHECK(cudaStreamSynchronize(I.stream));  // the caller may reuse `host` right away
    I.transfers.upload(bytes);
    return;
  }
  // Host storage (a weight leaf): write it and drop any device copy made from the old bytes.
  SD_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  std::memcpy(t->data, host, bytes);
  const Tensor* s = t;
  while (s->view_src) s = s->view_src;
  forget_weights(s->data, s->nbytes());
}

void CudaBackend::forget_weights(const void* host, size_t) { impl_->weights.forget(host); }  // Impl::release frees the space

void CudaBackend::download(const Tensor* t, void* host, size_t bytes) {
  Impl& I = *impl_;
  if (bytes == 0) return;
  if (!t->data) throw Error("download: tensor " + label(t) + " has no memory");
  if (bytes > t->nbytes()) throw Error("download: tensor " + label(t) + " has fewer than " + std::to_string(bytes) + " bytes");
  I.bind();
  if (I.is_device(t->data)) {
    SD_CUDA_CHECK(cudaMemcpyAsync(host, t->data, bytes, cudaMemcpyDeviceToHost, I.stream));
    I.transfers.download(bytes);
  }
  // Kernel faults surface here (the copy waits for every queued kernel).
  SD_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  if (!I.is_device(t->data)) std::memcpy(host, t->data, bytes);
}

void CudaBackend::synchronize() {
  impl_->bind();
  SD_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaBackend::forget_all_weights() {
  Impl& I = *impl_;
  I.bind();
  SD_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  for (const BlockPool::Chunk& c : I.pool.chunks()) I.device_free(c.base);
  I.pool.clear();
  I.weights.clear();
  I.f32_params.clear();
}

size_t CudaBackend::weight_bytes() const { return impl_->pool.used_bytes(); }
TransferStats CudaBackend::transfers() const { return impl_->transfers.snapshot(); }
const CudaOptions& CudaBackend::options() const { return impl_->opt; }
const DeviceInfo& CudaBackend::device() const { return impl_->info; }
bool CudaBackend::tensor_cores() const { return impl_->caps.cc_major >= 8; }
bool CudaBackend::is_device_pointer(const void* p) const { return impl_->is_device(p); }

void CudaBackend::fill_device(void* dst, int byte, size_t bytes) {
  impl_->bind();
  SD_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, impl_->stream));
  SD_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaBackend::copy_from_device(void* host, const void* src, size_t bytes) {
  impl_->bind();
  SD_CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, impl_->stream));
  SD_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaBackend::compute(Tensor* t) {
  Impl& I = *impl_;
  try {
    I.bind();
    I.run(t);
    if (I.opt.sync_each_op) SD_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " [while computing " + op_name(t->op) + " " + label(t) + "]");
  }
}

void CudaBackend::Impl::run(Tensor* t) {
  if (t->op == Op::None || t->is_view() || t->op == Op::Count) return;
  if (t->numel() == 0) return;
  float* y = static_cast<float*>(t->data);
  if (!is_device(y)) throw Error("cuda: the output is not in GPU memory; plan the graph with the CUDA backend");
  Tensor* x = t->src[0];
  const int64_t n = t->numel();
  switch (t->op) {
    case Op::Add:
    case Op::Mul: {
      Tensor* b = t->src[1];
      launch_binary(stream, t->op == Op::Mul, static_cast<const float*>(dev(x)), geom4(x), dev(b), b->dtype, geom4(b), y,
                    geom4(t), n);
      return;
    }
    case Op::Scale: case Op::Silu: case Op::Gelu: case Op::GeluTanh: case Op::QuickGelu: case Op::Relu: case Op::TanhClamp:
    case Op::Contiguous: {
      const Unary op = t->op == Op::Scale ? Unary::Scale : t->op == Op::Silu ? Unary::Silu : t->op == Op::Gelu ? Unary::Gelu
                       : t->op == Op::GeluTanh ? Unary::GeluTanh : t->op == Op::QuickGelu ? Unary::QuickGelu
                       : t->op == Op::Relu ? Unary::Relu : t->op == Op::TanhClamp ? Unary::TanhClamp : Unary::Copy;
      launch_unary(stream, op, dev(x), x->dtype, geom4(x), y, geom4(t), n, t->fparam[0], t->fparam[1]);
      return;
    }
    case Op::Geglu: {
      Geom4 gx = geom4(x);
      gx.shape[3] = t->shape[t->ndim - 1];
      launch_geglu(stream, static_cast<const float*>(dev(x)), gx, y, geom4(t), n);
      return;
    }
    case Op::TimestepEmbedding:
      launch_timestep_embedding(stream, static_cast<const float*>(dev(x)), x->stride[0], y, t->shape[0], t->iparam[0],
                                t->fparam[0]);
      return;
    case Op::Concat: {
      Tensor* b = t->src[1];
      const int axis = t->iparam[0];
      launch_concat(stream, static_cast<const float*>(dev(x)), geom4(x), static_cast<const float*>(dev(b)), geom4(b), y,
                    geom4(t), axis + (4 - t->ndim), x->shape[axis], n);
      return;
    }
    case Op::Upsample2x:
      launch_upsample2x(stream, static_cast<const float*>(dev(x)), geom4(x), y, geom4(t), n);
      return;
    case Op::GetRows: {
      Tensor* ids = t->src[1];
      launch_get_rows(stream, dev(x), x->dtype, x->stride[0], x->stride[1], x->shape[0],
                      static_cast<const int32_t*>(dev(ids)), ids->stride[0], y, t->shape[0], t->shape[1]);
      return;
    }
    case Op::Softmax: {
      const int64_t cols = t->shape[t->ndim - 1];
      launch_softmax(stream, contiguous_f32(x, kSlotInput), y, n / cols, cols, t->fparam[0]);
      return;
    }
    case Op::LayerNorm: {
      const int64_t cols = t->shape[t->ndim - 1];
      launch_layer_norm(stream, contiguous_f32(x, kSlotInput), y, n / cols, cols, param_f32(t->src[1], kSlotParam0),
                        param_f32(t->src[2], kSlotParam1), t->fparam[0]);
      return;
    }
    case Op::GroupNorm: {
      const int64_t batch = t->shape[0], channels = t->shape[1], spatial = n / (batch * channels);
      const int64_t groups = t->iparam[0];
      const float* xs = contiguous_f32(x, kSlotInput);
      void* scratch = scratch_buf(group_norm_scratch_bytes(batch, groups, channels, spatial), kSlotNorm);
      launch_group_norm(stream, xs, y, batch, channels, spatial, groups, param_f32(t->src[1], kSlotParam0),
                        param_f32(t->src[2], kSlotParam1), t->fparam[0], t->iparam[1] != 0, scratch);
      return;
    }
    case Op::Linear: case Op::Matmul: case Op::Conv2d: case Op::Attention:
      return products(t);
    case Op::None: case Op::View: case Op::Permute: case Op::Count:
      return;
  }
}

void CudaBackend::Impl::products(Tensor* t) {
  float* y = static_cast<float*>(t->data);
  const GemmConfig cfg = gemm_config();
  switch (t->op) {
    case Op::Linear: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      const int64_t k = x->shape[x->ndim - 1], n = w->shape[0], m = x->numel() / std::max<int64_t>(1, k);
      if (w->stride[1] != 1 && w->shape[1] != 1) throw Error("linear: weight " + label(w) + " must have contiguous rows");
      int64_t xrow = dense_row_stride(x);
      const float* xs = static_cast<const float*>(dev(x));
      if (xrow < 0) {
        xs = contiguous_f32(x, kSlotInput);
        xrow = k;
      }
      DenseGemm g;
      g.m = to_int(m, "linear rows");
      g.n = to_int(n, "linear outputs");
      g.k = to_int(k, "linear inputs");
      g.a = xs;
      g.lda = xrow;
      g.b = dev(w);
      g.b_dtype = w->dtype;
      g.ldb = w->stride[0];
      g.c = y;
      g.ldc = n;
      std::tie(g.bias_n, g.residual) = bias_residual(t);
      launch_gemm(stream, cfg, g);
      return;
    }
    case Op::Matmul: {
      Tensor* a = t->src[0];
      Tensor* b = t->src[1];
      const int64_t batch = a->shape[0], m = a->shape[1], n = b->shape[1], k = a->shape[2];
      DenseGemm g;
      g.batch = to_int(batch, "matmul batch");
      g.m = to_int(m, "matmul rows");
      g.n = to_int(n, "matmul columns");
      g.k = to_int(k, "matmul depth");
      if (a->stride[2] == 1 || k == 1) {
        g.a = static_cast<const float*>(dev(a));
        g.lda = a->stride[1];
        g.a_batch = a->stride[0];
      } else {
        g.a = contiguous_f32(a, kSlotInput);
        g.lda = k;
        g.a_batch = m * k;
      }
      if (b->stride[2] == 1 || k == 1) {
        g.b = dev(b);
        g.b_dtype = b->dtype;
        g.ldb = b->stride[1];
        g.b_batch = b->shape[0] == 1 ? 0 : b->stride[0];
      } else {
        g.b = contiguous_f32(b, kSlotParam0);
        g.b_dtype = DType::F32;
        g.ldb = k;
        g.b_batch = b->shape[0] == 1 ? 0 : n * k;
      }
      g.c = y;
      g.ldc = n;
      g.c_batch = m * n;
      launch_gemm(stream, cfg, g);
      return;
    }
    case Op::Conv2d: {
      Tensor* x = t->src[0];
      Tensor* w = t->src[1];
      if (!w->is_contiguous()) throw Error("conv2d: weight " + label(w) + " must be contiguous");
      if (Padding(t->iparam[5]) != Padding::Zeros)
        throw Error("conv2d " + label(t) + ": circular padding (tiling) is not implemented on the CUDA backend yet; "
                    "generate with tiling on the CPU backend");
      ConvArgs c;
      c.x = contiguous_f32(x, kSlotInput);
      c.w = dev(w);
      c.w_dtype = w->dtype;
      c.n = to_int(x->shape[0], "conv2d batch");
      c.c = to_int(x->shape[1], "conv2d channels");
      c.h = to_int(x->shape[2], "conv2d height");
      c.w_in = to_int(x->shape[3], "conv2d width");
      c.o = to_int(w->shape[0], "conv2d output channels");
      c.kh = to_int(w->shape[2], "conv2d kernel height");
      c.kw = to_int(w->shape[3], "conv2d kernel width");
      c.stride = t->iparam[0];
      c.pad_top = t->iparam[1];
      c.pad_left = t->iparam[2];
      c.out_h = to_int(t->shape[2], "conv2d output height");
      c.out_w = to_int(t->shape[3], "conv2d output width");
      c.y = y;
      std::tie(c.bias, c.residual) = bias_residual(t);
      launch_conv2d(stream, cfg, c);
      return;
    }
    case Op::Attention: {
      const AttentionGeometry g = attention_geometry(t);
      AttnArgs a;
      a.q = static_cast<const float*>(dev(g.q));
      a.k = static_cast<const float*>(dev(g.k));
      a.v = static_cast<const float*>(dev(g.v));
      a.o = y;
      a.q_bs = g.q->stride[0]; a.q_ts = g.q->stride[1];
      a.k_bs = g.k->stride[0]; a.k_ts = g.k->stride[1];
      a.v_bs = g.v->stride[0]; a.v_ts = g.v->stride[1];
      a.o_ts = t->shape[2]; a.o_bs = t->shape[1] * t->shape[2];
      a.batch = to_int(g.batch, "attention batch");
      a.heads = int(g.heads);
      a.tq = to_int(g.tq, "attention queries");
      a.tk = to_int(g.tk, "attention keys");
      a.d = to_int(g.head_dim, "attention head dim");
      a.dv = to_int(g.head_dim_v, "attention value head dim");
      a.scale = g.scale;
      a.causal = g.causal;
      const size_t bytes = attention_scratch_bytes(caps, a);
      float* scratch = bytes ? static_cast<float*>(scratch_buf(bytes, kSlotAttention)) : nullptr;
      launch_attention(stream, cfg, caps, a, scratch);
      return;
    }
    default:
      return;
  }
}

}  // namespace sd::cuda
