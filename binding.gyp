{
  "targets": [
    {
      "target_name": "frc_native",
      "sources": ["src/engine/native/warp-blend.c"],
      "cflags": ["-O3", "-ffast-math", "-std=c11"],
      "cflags!": ["-O0"]
    }
  ]
}
