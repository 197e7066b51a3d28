#!/usr/bin/env bash
# Builds the gemm/attention labs and native tests with the per-file ISA flags the core uses.
#   bench/kernels/gemm/build.sh [out_dir]   (default /tmp/sd_kernels_lab)
# Produces: $OUT/bench_gemm, $OUT/bench_attention, $OUT/test_gemm, $OUT/test_attention, $OUT/peak
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/sd_kernels_lab}
mkdir -p "$OUT/obj"
CXX=${CXX:-g++}
CXXFLAGS=${CXXFLAGS:--O2 -g -std=c++17 -Wall}
F_AVX2="-mavx2 -mfma -mf16c"
F_AVX512="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c"
F_BF16="$F_AVX512 -mavx512bf16"
flags_for() {
  case "$1" in
    *_avx512bf16.cpp) echo "$F_BF16" ;;
    *_avx512.cpp) echo "$F_AVX512" ;;
    *_avx2.cpp) echo "$F_AVX2" ;;
    *) echo "" ;;
  esac
}
objs=()
pids=()
for src in native/core/cpu/isa.cpp native/core/cpu/thread_pool.cpp native/core/cpu/gemm*.cpp \
           native/core/cpu/attention*.cpp; do
  [ -f "$src" ] || continue
  obj="$OUT/obj/$(basename "${src%.cpp}").o"
  $CXX $CXXFLAGS $(flags_for "$src") -Inative -c "$src" -o "$obj" &
  pids+=($!)
  objs+=("$obj")
done
for p in "${pids[@]}"; do wait "$p"; done
pids=()
link() {  # name main.cpp
  $CXX $CXXFLAGS -Inative -Itest/native -c "$2" -o "$OUT/obj/$1.main.o"
  $CXX $CXXFLAGS "$OUT/obj/$1.main.o" "${objs[@]}" -o "$OUT/$1" -lpthread
}
for pair in bench_gemm:bench/kernels/gemm/bench_gemm.cpp \
            bench_attention:bench/kernels/attention/bench_attention.cpp \
            test_gemm:test/native/test_gemm.cpp test_attention:test/native/test_attention.cpp; do
  [ -f "${pair#*:}" ] || continue
  link "${pair%%:*}" "${pair#*:}" &
  pids+=($!)
done
$CXX -O2 -std=c++17 -Inative bench/kernels/peak/peak.cpp "$OUT/obj/isa.o" "$OUT/obj/thread_pool.o" -o "$OUT/peak" -lpthread &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
# No code compiled with ISA flags may be exported (the linker could pick it for a plain caller).
for o in "$OUT"/obj/*_avx*.o; do
  bad=$(nm -C "$o" | awk '$2 ~ /^[TWVu]$/' | grep -v 'gemm_kernels_\|attention_kernels_' || true)
  if [ -n "$bad" ]; then echo "exported symbols from ISA-flagged $o:"; echo "$bad"; exit 1; fi
done
echo "built into $OUT"
