# Written for tvd's tests in the shape of build-torchvision pytorch-2.10 (5eb7080),
# .flox/pkgs/torchvision-python313-cuda13_0-*.nix: PyTorch 2.10 on nixpkgs 6a030d5, CUDA chosen by
# the unversioned alias cudaPackages_13 (CUDA 13.0 at that pin), a MAGMA patch by fetchpatch, and
# torch's source replaced inside an override of the Python package set. Correct as it stands:
# `tvd check` must find no error in it, and the stub must evaluate it.
{ pkgs ? import <nixpkgs> {} }:

let
  pinned = import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/6a030d535719c5190187c4cec156f335e95e3211.tar.gz";
  }) {
    system = pkgs.stdenv.hostPlatform.system;
    config = { allowUnfree = true; allowBroken = true; cudaSupport = true; };
    overlays = [
      (final: prev: { cudaPackages = final.cudaPackages_13; })
      (final: prev: {
        magma = prev.magma.overrideAttrs (old: {
          patches = (old.patches or []) ++ [
            (final.fetchpatch {
              name = "magma-clockrate.patch";
              url = "https://example.invalid/magma-clockrate.patch";
              hash = "sha256-0000000000000000000000000000000000000000000=";
            })
          ];
        });
      })
      (final: prev: {
        python3Packages = prev.python3Packages.override {
          overrides = pyFinal: pyPrev: {
            torch = pyPrev.torch.overrideAttrs (old: rec {
              version = "2.10.0";
              src = prev.fetchFromGitHub {
                owner = "pytorch";
                repo = "pytorch";
                rev = "v${version}";
                hash = "sha256-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE=";
                fetchSubmodules = true;
              };
              patches = [];
            });
          };
        };
      })
    ];
  };

  target = "12.0";
  flags = [ "-mavx512f" "-mavx512dq" "-mavx512vl" "-mavx512bw" "-mfma" ];

  torch210 = (pinned.python3Packages.torch.override {
    cudaSupport = true;
    gpuTargets = [ target ];
  }).overrideAttrs (old: {
    pname = "pytorch210-for-torchvision-sm120-avx512";
    patches = [];
    ninjaFlags = [ "-j32" ];
    requiredSystemFeatures = [ "big-parallel" ];
    cmakeFlags = (old.cmakeFlags or []) ++ [ "-DCUDA_VERSION=13.0" ];
    preConfigure = (old.preConfigure or "") + ''
      export CXXFLAGS="${pinned.lib.concatStringsSep " " flags} $CXXFLAGS"
      export MAX_JOBS=32
      ln -sf ${pinned.cudaPackages.cuda_cccl}/include/cuda /build/cccl-compat/cuda
    '';
  });
in
  (pinned.python3Packages.torchvision.override { torch = torch210; }).overrideAttrs (old: {
    pname = "torchvision-python313-cuda13_0-sm120-avx512";
    propagatedBuildInputs = (old.propagatedBuildInputs or []) ++ [ torch210.out ];
    requiredSystemFeatures = [ "big-parallel" ];
    preConfigure = (old.preConfigure or "") + ''
      export MAX_JOBS=32
      echo "TorchVision ${old.version} on PyTorch ${torch210.version}"
    '';
    meta = old.meta // { platforms = [ "x86_64-linux" ]; };
  })
