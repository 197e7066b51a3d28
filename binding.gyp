{
  # The CPU addon, built by node-gyp when no prebuild matches (npm install's fallback).
  # Same sources as CMakeLists.txt; files named *_<isa>.cpp get that ISA's flags only.
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags": ["-fPIC"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
    "include_dirs": ["native", "native/include"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"]
  },
  "targets": [
    {
      "target_name": "sd_core_avx2",
      "type": "static_library",
      "cflags": ["-mavx2", "-mfma", "-mf16c"],
      "sources": ["<!@(find native/core native/io native/sample native/model native/runtime -name '*_avx2.cpp' 2>/dev/null)"]
    },
    {
      "target_name": "sd_core_avx512",
      "type": "static_library",
      "cflags": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"],
      "sources": ["<!@(find native/core native/io native/sample native/model native/runtime -name '*_avx512.cpp' 2>/dev/null)"]
    },
    {
      "target_name": "sd_core_avx512bf16",
      "type": "static_library",
      "cflags": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx512bf16"],
      "sources": ["<!@(find native/core native/io native/sample native/model native/runtime -name '*_avx512bf16.cpp' 2>/dev/null)"]
    },
    {
      "target_name": "sd_core",
      "type": "static_library",
      "dependencies": ["sd_core_avx2", "sd_core_avx512", "sd_core_avx512bf16"],
      "sources": ["<!@(find native/core native/io native/sample native/model native/runtime -maxdepth 2 -name '*.cpp' ! -name '*_avx2.cpp' ! -name '*_avx512.cpp' ! -name '*_avx512bf16.cpp' ! -path '*/cuda/*' 2>/dev/null)"]
    },
    {
      "target_name": "sd_native",
      "sources": ["<!@(find native/addon -name '*.cpp')"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_ops",
      "type": "executable",
      "sources": ["test/native/test_ops.cpp", "test/native/op_reference.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_gemm",
      "type": "executable",
      "sources": ["test/native/test_gemm.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_thread_pool",
      "type": "executable",
      "sources": ["test/native/test_thread_pool.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_attention",
      "type": "executable",
      "sources": ["test/native/test_attention.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_safetensors",
      "type": "executable",
      "sources": ["test/native/test_safetensors.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_samplers",
      "type": "executable",
      "sources": ["test/native/test_samplers.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_rng",
      "type": "executable",
      "sources": ["test/native/test_rng.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "test_parity",
      "type": "executable",
      "sources": ["test/native/test_parity.cpp"],
      "include_dirs": ["test/native"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    }
  ]
}
