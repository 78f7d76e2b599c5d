# Written for tvd's tests in the shape of build-torchvision main (c584a75),
# .flox/pkgs/torchvision-python313-cpu-armv9.nix: an aarch64 CPU cell whose pinned nixpkgs is
# imported without `system`. Its meta.platforms is aarch64-linux alone, so evaluated from an
# x86_64 host (as `flox build --system aarch64-linux` evaluates it there) check-meta refuses it.
{ pkgs ? import <nixpkgs> {} }:

let
  pinned = import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz";
  }) {
    config = { allowUnfree = true; };
  };
  flags = [ "-march=armv9-a+sve+sve2" ];
  cpuTorch = (pinned.python3Packages.torch.override { cudaSupport = false; }).overrideAttrs (old: {
    requiredSystemFeatures = [ "big-parallel" ];
    buildInputs = pinned.lib.filter (p: !(pinned.lib.hasPrefix "cuda" (p.pname or ""))) old.buildInputs
      ++ [ pkgs.openblas ];
    nativeBuildInputs = pinned.lib.filter (p: p.pname or "" != "addDriverRunpath") old.nativeBuildInputs;
    preConfigure = (old.preConfigure or "") + ''
      export USE_CUDA=0 BLAS=OpenBLAS MAX_JOBS=32
      export CXXFLAGS="${pinned.lib.concatStringsSep " " flags} $CXXFLAGS"
    '';
  });
in
  (pinned.python3Packages.torchvision.override { torch = cpuTorch; }).overrideAttrs (old: {
    pname = "torchvision-python313-cpu-armv9";
    propagatedBuildInputs = (old.propagatedBuildInputs or []) ++ [ cpuTorch.out ];
    requiredSystemFeatures = [ "big-parallel" ];
    meta = old.meta // { platforms = [ "aarch64-linux" ]; };
  })
