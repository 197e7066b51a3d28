{
  # The CPU addon, for node-gyp: `npx sd-native build` (a source build on request) and `npm install`
  # in a clone. Sources and per-ISA flags come from native/sources.json, the list CMakeLists.txt reads
  # too; the native test programs are built by CMake from `npm test`, never here.
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags": ["-fPIC"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
    "include_dirs": ["native", "native/include"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"]
  },
  "targets": [
    {
      "target_name": "sd_core",
      "type": "static_library",
      "sources": ["<!@(node native/sources.cjs core)"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["sd_core_avx2", "sd_core_avx512", "sd_core_avx512bf16"]
        }],
        ["target_arch=='arm64'", {
          "dependencies": ["sd_core_neon", "sd_core_neonbf16"]
        }]
      ]
    },
    {
      "target_name": "sd_native",
      "sources": ["<!@(node native/sources.cjs addon)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["sd_core"],
      "libraries": ["-lpthread"]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "sd_core_avx2",
          "type": "static_library",
          "cflags": ["<!@(node native/sources.cjs isa x64 avx2 flags)"],
          "sources": ["<!@(node native/sources.cjs isa x64 avx2 sources)"]
        },
        {
          "target_name": "sd_core_avx512",
          "type": "static_library",
          "cflags": ["<!@(node native/sources.cjs isa x64 avx512 flags)"],
          "sources": ["<!@(node native/sources.cjs isa x64 avx512 sources)"]
        },
        {
          "target_name": "sd_core_avx512bf16",
          "type": "static_library",
          "cflags": ["<!@(node native/sources.cjs isa x64 avx512bf16 flags)"],
          "sources": ["<!@(node native/sources.cjs isa x64 avx512bf16 sources)"]
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "sd_core_neon",
          "type": "static_library",
          "cflags": ["<!@(node native/sources.cjs isa arm64 neon flags)"],
          "sources": ["<!@(node native/sources.cjs isa arm64 neon sources)"]
        },
        {
          "target_name": "sd_core_neonbf16",
          "type": "static_library",
          "cflags": ["<!@(node native/sources.cjs isa arm64 neonbf16 flags)"],
          "sources": ["<!@(node native/sources.cjs isa arm64 neonbf16 sources)"]
        }
      ]
    }]
  ]
}
