# Written for tvd's tests in the shape of build-torchvision main (c584a75),
# .flox/pkgs/torchvision-python313-cuda12_8-sm75-*.nix (added in 572cd71, after 845c4ec put
# customPytorch.out into every other recipe's propagatedBuildInputs): TorchVision built against a
# custom torch that it does not propagate, so only torch's header-only `dev` output propagates.
{ pkgs ? import <nixpkgs> {} }:

let
  pinned = import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz";
  }) {
    system = pkgs.stdenv.hostPlatform.system;
    config = { allowUnfree = true; cudaSupport = true; };
    overlays = [ (final: prev: { cudaPackages = final.cudaPackages_12_8; }) ];
  };
  customPytorch = (pinned.python3Packages.torch.override {
    cudaSupport = true;
    gpuTargets = [ "7.5" ];
  }).overrideAttrs (old: {
    requiredSystemFeatures = [ "big-parallel" ];
    preConfigure = (old.preConfigure or "") + ''
      export CXXFLAGS="-mavx2 -mfma $CXXFLAGS"
      export MAX_JOBS=32
    '';
  });
in
  (pinned.python3Packages.torchvision.override {
    torch = customPytorch;
  }).overrideAttrs (old: {
    pname = "torchvision-python313-cuda12_8-sm75-avx2";
    requiredSystemFeatures = [ "big-parallel" ];
    meta = old.meta // { platforms = [ "x86_64-linux" ]; };
  })
