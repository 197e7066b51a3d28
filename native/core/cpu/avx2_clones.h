// SD_AVX2_CLONES: a hot loop of a baseline-compiled file is built twice, for plain x86-64 and for
// AVX2, and the loader picks the copy this CPU runs (GCC target_clones, an ifunc). AVX2 without
// FMA: no multiply-add is contracted, so both copies give the same bits and results never depend
// on the CPU. Elsewhere (AArch64, clang) the plain build only.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SD_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SD_AVX2_CLONES
#endif
