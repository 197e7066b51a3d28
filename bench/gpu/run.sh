#!/usr/bin/env bash
# Everything one GPU call is for, inside 8 minutes, with no Node on the machine: build (all cores),
# the GPU op table (test_cuda), full-size random SD1.5 and SDXL checkpoints on local disk, the GPU
# image against the CPU image of the same seed (SD1.5 512², 2 steps, PSNR >= 40 dB), it/s at 512²
# (SD1.5) and 1024² (SDXL), VAE decode ms, peak device memory, images/s at batch 1/4/8. Prints one
# JSON object on stdout (progress on stderr); exits 1 if a step failed or the PSNR is below 40 dB.
#   bench/gpu/run.sh [RESULTS_DIR]              on a machine with an NVIDIA GPU
#   bench/gpu/run.sh --rehearse [RESULTS_DIR]   anywhere (also when nvidia-smi is absent): no CUDA,
#                                               device "emulated", 64² and 1 step, same steps otherwise
# RESULTS_DIR (default /tmp/sd-gpu-bench) gets every step's output, its log and summary.json.
# Env: SD_CUDA_ARCH (default: the GPU's compute capability), JOBS (default: all cores), BUILD_DIR, CKPT_DIR
# (default /dev/shm when it has room: the files are written and read at memory speed), DEADLINE_S,
# COMMIT (what the summary names when the tree has no .git).
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=gpu
if [[ ${1:-} == --rehearse ]]; then MODE=rehearsal; shift; fi
command -v nvidia-smi > /dev/null 2>&1 || MODE=rehearsal
R=${1:-/tmp/sd-gpu-bench}
mkdir -p "$R"
rm -f "$R"/*.out "$R"/*.log "$R"/*.rgba "$R"/*.csv "$R/steps.tsv"
JOBS=${JOBS:-$(nproc)}

if [[ $MODE == gpu ]]; then
  ARCH=${SD_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -1 | tr -d .)}
  ARCH=${ARCH:-90}
  BUILD=${BUILD_DIR:-build-native/gpu-bench-sm$ARCH}
  CMAKE_FLAGS="-DSD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$ARCH"
  if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi
  DEVICE=cuda OP_TEST=test_cuda
  PARITY_SIZE=512 PARITY_STEPS=2
  SD15_SIZE=512 SD15_STEPS=${SD15_STEPS:-20} BATCHES=1,4,8
  SDXL_SIZE=1024 SDXL_STEPS=${SDXL_STEPS:-10}
  DEADLINE_S=${DEADLINE_S:-465}  # 8 minutes less 15 s for the summary and the caller's own overhead
  CAP_SCALE=1
else
  ARCH=none
  BUILD=${BUILD_DIR:-build-native/tests}  # the native tests' own build (npm test): nothing compiled twice
  CMAKE_FLAGS=""
  DEVICE=emulated OP_TEST=test_emulated
  PARITY_SIZE=64 PARITY_STEPS=1
  SD15_SIZE=64 SD15_STEPS=1 BATCHES=1,2
  SDXL_SIZE=64 SDXL_STEPS=1
  DEADLINE_S=${DEADLINE_S:-1800}
  CAP_SCALE=4  # full-size weights on a few CPU cores: SDXL's 64² image alone took 101 s on 2
fi
if [[ -z ${CKPT_DIR:-} ]]; then
  CKPT_DIR=/tmp
  shm_free=$(df --output=avail -B1 /dev/shm 2> /dev/null | tail -1 || echo 0)
  if (( ${shm_free:-0} > 12000000000 )); then CKPT_DIR=/dev/shm; fi
fi
DEADLINE=$((SECONDS + DEADLINE_S))

# step NAME CAP_S RESERVE_S CMD...: runs CMD with stdout in $R/NAME.out and stderr in $R/NAME.log,
# for at most CAP_S (× CAP_SCALE) seconds and never into the last RESERVE_S seconds before the deadline (kept for
# the steps after it); too little time left skips it. A failure is recorded, never fatal: the
# summary must still be printed.
step() {
  local name=$1 cap=$(($2 * CAP_SCALE)) reserve=$3
  shift 3
  local left=$((DEADLINE - SECONDS - reserve)) t0=$SECONDS rc=0 status=ok
  local limit=$((cap < left ? cap : left))
  if ((limit < 5)); then
    status=skipped rc=-1 limit=0
  else
    timeout --kill-after=5 "$limit" bash -c '"$@"' "$name" "$@" > "$R/$name.out" 2> "$R/$name.log" || rc=$?
    case $rc in 0) ;; 124 | 137) status=timeout ;; *) status=failed ;; esac
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" $((SECONDS - t0)) "$limit" >> "$R/steps.tsv"
  printf '[%3ds] %s: %s (%ss of %ss)\n' "$SECONDS" "$name" "$status" $((SECONDS - t0)) "$limit" >&2
}
ok() { grep -q "^$1"$'\t'"ok"$'\t' "$R/steps.tsv"; }

build() {
  local gen=()
  command -v ninja > /dev/null && gen=(-G Ninja)
  [[ -f $BUILD/CMakeCache.txt ]] && gen=()  # a build dir keeps the generator it was made with
  # shellcheck disable=SC2086 # CMAKE_FLAGS is a word list (a string: arrays cannot be exported)
  cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSD_TESTS=ON -DSD_ADDON=OFF $CMAKE_FLAGS || return
  cmake --build "$BUILD" -j "$JOBS" --target gpu_bench make_random_checkpoint "$OP_TEST"
}

# A checkpoint made earlier from the same list is kept (rehearsals on slow disks).
checkpoint() {
  local list=bench/gpu/$1.tensors file=$CKPT_DIR/sd-gpu-bench-$1.safetensors
  if [[ -s $file && $file -nt $list && $file -nt $BUILD/make_random_checkpoint ]]; then
    echo "{\"checkpoint\":\"$file\",\"reused\":true}"
  else
    "$BUILD/make_random_checkpoint" "$list" "$file" 1 "$JOBS"
  fi
}

op_test() {
  "$BUILD/$OP_TEST" test/fixtures || return
  # test_cuda exits 0 when it finds no GPU: on a GPU machine that is a failure.
  ! grep -q "skipped:" "$R/op_table.out"
}

bench() { "$BUILD/gpu_bench" "$@"; }

# timeout runs programs, not functions: the steps run in a child bash that gets these.
export -f build checkpoint op_test bench
export R BUILD JOBS CMAKE_FLAGS OP_TEST CKPT_DIR

echo "sd-native GPU run: mode $MODE, arch $ARCH, $JOBS jobs, build $BUILD, checkpoints in $CKPT_DIR, results in $R" >&2
step build 300 150 build
if ok build; then
  # The checkpoints are written on the CPUs while the op table runs on the GPU.
  (step checkpoint_sd1 90 170 checkpoint sd1; step checkpoint_sdxl 120 110 checkpoint sdxl) &
  makers=$!
  step op_table 120 200 op_test
  wait $makers
  SD1=$CKPT_DIR/sd-gpu-bench-sd1.safetensors SDXL=$CKPT_DIR/sd-gpu-bench-sdxl.safetensors
  if [[ $MODE == gpu ]]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$R/nvidia-smi.csv" 2> /dev/null &
    smi=$!
  fi
  same=(--size "$PARITY_SIZE" --steps "$PARITY_STEPS" --batches 1 --warmup 0 --compute f32 --seed 42)
  step parity_gpu 60 170 bench run --model "$SD1" --device "$DEVICE" "${same[@]}" --out "$R/parity_gpu.rgba"
  step parity_cpu 90 150 bench run --model "$SD1" --device cpu --threads "$JOBS" "${same[@]}" --out "$R/parity_cpu.rgba"
  step psnr 10 150 bench psnr "$R/parity_gpu.rgba" "$R/parity_cpu.rgba" --min 40
  # Speed at the fast settings (bf16 products); the first image, 1 step, moves the weights up.
  step sd15 150 110 bench run --model "$SD1" --device "$DEVICE" --compute bf16 --size "$SD15_SIZE" --steps "$SD15_STEPS" --batches "$BATCHES" --warmup 1
  step sdxl 120 0 bench run --model "$SDXL" --device "$DEVICE" --compute bf16 --size "$SDXL_SIZE" --steps "$SDXL_STEPS" --batches 1 --warmup 1
  [[ -n ${smi:-} ]] && kill "$smi" 2> /dev/null || true
fi

gpu_name=$( [[ $MODE == gpu ]] && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -1 || echo none)
commit=${COMMIT:-$(git rev-parse --short HEAD 2> /dev/null || echo unknown)}
python3 bench/gpu/summarize.py "$R" --mode "$MODE" --arch "$ARCH" --jobs "$JOBS" --gpu "$gpu_name" --commit "$commit" \
  --total-s "$SECONDS" > "$R/summary.json" || { cat "$R"/*.out; exit 1; }
cat "$R/summary.json"
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["pass"] else 1)' "$R/summary.json"
