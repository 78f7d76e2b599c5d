# Written for tvd's tests in the shape of build-torchvision main (c584a75),
# .flox/pkgs/torchvision-python313-cuda12_8-sm90-armv9.nix: an aarch64 GPU cell whose pinned
# nixpkgs (fe5e41d) is imported without `system`, so it evaluates for builtins.currentSystem; its
# meta.platforms keeps torchvision's own list, which also has x86_64-linux, so nothing refuses it.
# From an x86_64 host it is an x86_64 derivation under an aarch64 name.
{ pkgs ? import <nixpkgs> {} }:

let
  pinned = import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz";
  }) {
    config = {
      allowUnfree = true;
      cudaSupport = true;
    };
  };
  target = "9.0";
  flags = [ "-march=armv9-a+sve+sve2" ];
  torch = (pinned.python3Packages.torch.override {
    cudaSupport = true;
    gpuTargets = [ target ];
  }).overrideAttrs (old: {
    requiredSystemFeatures = [ "big-parallel" ];
    preConfigure = (old.preConfigure or "") + ''
      export CXXFLAGS="${pinned.lib.concatStringsSep " " flags} $CXXFLAGS"
      export MAX_JOBS=32
    '';
  });
in
  (pinned.python3Packages.torchvision.override { inherit torch; }).overrideAttrs (old: {
    pname = "torchvision-python313-cuda12_8-sm90-armv9";
    propagatedBuildInputs = (old.propagatedBuildInputs or []) ++ [ torch.out ];
    requiredSystemFeatures = [ "big-parallel" ];
    meta = old.meta // { platforms = old.meta.platforms or [ "x86_64-linux" "aarch64-linux" ]; };
  })
