// Included first by every native/sample/*.cpp. The samplers, schedules and RNGs reproduce
// k-diffusion / torch f32 arithmetic operation by operation (goldens match bit for bit), so the
// compiler must not fuse a*b+c into an FMA (GCC does so with -mfma/-march=native, clang on arm64 by
// default). The few fusions torch's own AVX2 kernels perform are written as std::fma. The cost is
// nil: this code is a few elementwise passes per model call.
#pragma once
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
