#!/usr/bin/env bash
# Builds the CUDA kernel lab (bench_cuda) and the GPU op test (test_cuda) with nvcc, without
# cmake: the graph core (native/core/*.cpp), the CPU backend (the op test's yardstick) and every
# native/core/cuda source; test_cuda also links the op table (test/native/op_table.cpp) and the
# double reference it is built around (op_reference.cpp).
#   bench/kernels/cuda/build.sh [out_dir]        (default /tmp/sd_cuda_lab)
# Env: SD_CUDA_ARCH (default 90: H100; 80 for A100, 89 for L4/RTX 40xx), NVCC, JOBS (default 2).
# Produces $OUT/bench_cuda and $OUT/test_cuda.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/sd_cuda_lab}
ARCH=${SD_CUDA_ARCH:-90}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
JOBS=${JOBS:-2}
mkdir -p "$OUT/obj"
CXXFLAGS="-O2 -std=c++17"
F_AVX2="-mavx2 -mfma -mf16c"
F_AVX512="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c"
flags_for() {
  case "$1" in
    *_avx512bf16.cpp) echo "$F_AVX512 -mavx512bf16" ;;
    *_avx512.cpp) echo "$F_AVX512" ;;
    *_avx2.cpp) echo "$F_AVX2" ;;
    *) echo "" ;;
  esac
}
cmds=()
objs=()
for src in native/core/*.cpp native/core/cpu/*.cpp; do
  obj="$OUT/obj/$(echo "${src%.cpp}" | tr / _).o"
  cmds+=("${CXX:-g++} $CXXFLAGS $(flags_for "$src") -Inative -c $src -o $obj")
  objs+=("$obj")
done
for src in native/core/cuda/*.cu native/core/cuda/*.cpp; do
  obj="$OUT/obj/$(echo "$src" | tr / _).o"
  cmds+=("$NVCC $CXXFLAGS -arch=sm_$ARCH -Inative -c $src -o $obj")
  objs+=("$obj")
done
for main in bench/kernels/cuda/bench_cuda.cpp test/native/test_cuda.cpp; do
  cmds+=("$NVCC $CXXFLAGS -DSD_WITH_CUDA=1 -Inative -Itest/native -c $main -o $OUT/obj/$(basename "${main%.cpp}").main.o")
done
# The op table and its reference interpreter (test_cuda only).
table_objs=()
for src in test/native/op_table.cpp test/native/op_reference.cpp; do
  obj="$OUT/obj/$(basename "${src%.cpp}").o"
  cmds+=("${CXX:-g++} $CXXFLAGS -Inative -Itest/native -c $src -o $obj")
  table_objs+=("$obj")
done
printf '%s\n' "${cmds[@]}" | xargs -P "$JOBS" -I{} sh -c '{}'
"$NVCC" -arch=sm_$ARCH "$OUT/obj/bench_cuda.main.o" "${objs[@]}" -o "$OUT/bench_cuda" -lpthread
"$NVCC" -arch=sm_$ARCH "$OUT/obj/test_cuda.main.o" "${table_objs[@]}" "${objs[@]}" -o "$OUT/test_cuda" -lpthread
echo "built $OUT/bench_cuda and $OUT/test_cuda for sm_$ARCH"
