{
  "targets": [
    {
      "target_name": "frc_native",
      "sources": ["src/engine/native/warp-blend.c"],
      "cflags": ["-O3", "-ffast-math", "-std=c11"],
      "cflags!": ["-O0"]
    },
    {
      "target_name": "frc_lk_refine",
      "sources": ["src/engine/native/lk-refine.c", "src/engine/native/ifblock.c"],
      "cflags": ["-O3", "-ffast-math", "-std=c11"],
      "cflags!": ["-O0"],
      "ldflags": ["-Wl,-z,nodelete"]
    },
    {
      "target_name": "frc_vulkan_adapters",
      "sources": ["src/engine/native/vulkan-adapters.c"],
      "cflags": ["-O2", "-std=c11"],
      "cflags!": ["-O0"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "frc_heap_trim",
      "sources": ["src/engine/native/heap-trim.c"],
      "cflags": ["-O2", "-std=c11"],
      "cflags!": ["-O0"]
    },
    {
      "target_name": "frc_srt",
      "variables": { "has_srt": "<!(pkg-config --exists srt && echo 1 || echo 0)" },
      "conditions": [
        ["has_srt==1", {
          "sources": ["src/protocols/srt/srt-listener.c"],
          "cflags": ["-O2", "-std=c11", "<!@(pkg-config --cflags srt)"],
          "cflags!": ["-O0"],
          "libraries": ["<!@(pkg-config --libs srt)", "-lpthread"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
