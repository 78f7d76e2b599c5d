# TorchVision optimized for NVIDIA Blackwell (RTX 5090) + ARMv9-A with SVE2
# Package name: torchvision-python313-cuda12_8-sm120-armv9

{ python3Packages
, lib
, config
, cudaPackages
, addDriverRunpath
}:

let
  # GPU target: SM120 (NVIDIA Blackwell (RTX 5090))
  # PyTorch's CMake accepts numeric format (12.0) not sm_120
  gpuArchNum = "12.0";

  # CPU optimization: ARMv9-A with SVE2
  cpuFlags = [
    "-march=armv9-a+sve2"
  ];

  # Custom PyTorch with matching GPU/CPU configuration
  # TODO: Reference the actual pytorch package from build-pytorch
  customPytorch = (python3Packages.pytorch.override {
    cudaSupport = true;
    gpuTargets = [ gpuArchNum ];
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
    pname = "torchvision-python313-cuda12_8-sm120-armv9";

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
      echo "GPU Target: SM120 (NVIDIA Blackwell (RTX 5090))"
      echo "CPU Features: ARMv9-A with SVE2"
      echo "CUDA: 12.8 (Compute Capability 12.0)"
      echo "CXXFLAGS: $CXXFLAGS"
      echo "========================================="
    '';

    meta = oldAttrs.meta // {
      description = "TorchVision for NVIDIA Blackwell (RTX 5090) + ARMv9-A with SVE2";
      longDescription = ''
        Custom TorchVision build with targeted optimizations:
        - GPU: NVIDIA Blackwell (RTX 5090)
        - CPU: ARMv9-A with SVE2
        - CUDA: 12.8
        - Python: 3.13

        Hardware requirements:
        - GPU: RTX 5090, Blackwell architecture GPUs
        - CPU: AWS Graviton3+, NVIDIA Grace, ARM Neoverse V1+
        - Driver: NVIDIA 570+ required

        Choose this if: You have RTX 5090 in ARM-based system with latest processors (Graviton3+, Grace Hopper superchip). ARMv9 with SVE2 provides best performance for ARM platforms.
      '';
      platforms = [ "aarch64-linux" ];
    };
  })
