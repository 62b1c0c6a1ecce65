{
  "targets": [
    {
      "target_name": "kafkatrace_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/kt_errors.cc",
        "src/native/kt_object.cc",
        "src/native/kt_maps.cc",
        "src/native/kt_ringbuf.cc",
        "src/native/kt_process.cc",
        "src/native/kt_files.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    },
    {
      "target_name": "kafkatrace-held",
      "type": "executable",
      "sources": ["src/native/kt_held.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
