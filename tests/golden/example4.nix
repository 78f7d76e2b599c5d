# TorchVision CPU-only optimized for AVX2
# Package name: torchvision-python313-cpu-avx2

{ python3Packages
, lib
, openblas
}:

let
  # CPU optimization: AVX2 (no GPU)
  cpuFlags = [
    "-mavx2"       "-mfma"        "-mf16c"
  ];

  # Custom PyTorch with CPU-only configuration
  # TODO: Reference the actual pytorch package from build-pytorch
  customPytorch = (python3Packages.pytorch.override {
    cudaSupport = false;
  }).overrideAttrs (oldAttrs: {
    preConfigure = (oldAttrs.preConfigure or "") + ''
      export CXXFLAGS="$CXXFLAGS ${lib.concatStringsSep " " cpuFlags}"
      export CFLAGS="$CFLAGS ${lib.concatStringsSep " " cpuFlags}"

      # Limit build parallelism to prevent memory saturation
      export NIX_BUILD_CORES=32
      export MAX_JOBS=32
      export CMAKE_BUILD_PARALLEL_LEVEL=32
    '';
  });

in
  (python3Packages.torchvision.override {
    torch = customPytorch;
  }).overrideAttrs (oldAttrs: {
    pname = "torchvision-python313-cpu-avx2";

    preConfigure = (oldAttrs.preConfigure or "") + ''
      export CXXFLAGS="$CXXFLAGS ${lib.concatStringsSep " " cpuFlags}"
      export CFLAGS="$CFLAGS ${lib.concatStringsSep " " cpuFlags}"

      # Limit build parallelism to prevent memory saturation
      export NIX_BUILD_CORES=32
      export MAX_JOBS=32
      export CMAKE_BUILD_PARALLEL_LEVEL=32

      echo "========================================="
      echo "TorchVision Build Configuration"
      echo "========================================="
      echo "GPU Target: None (CPU-only build)"
      echo "CPU Features: AVX2"
      echo "CUDA: Disabled"
      echo "CXXFLAGS: $CXXFLAGS"
      echo "========================================="
    '';

    meta = oldAttrs.meta // {
      description = "TorchVision CPU-only build optimized for AVX2";
      longDescription = ''
        Custom TorchVision build for CPU-only workloads:
        - GPU: None (CPU-only)
        - CPU: AVX2
        - Python: 3.13

        This build is suitable for inference, development, and workloads
        that don't require GPU acceleration.
      '';
      platforms = [ "x86_64-linux" "aarch64-linux" ];
    };
  })
