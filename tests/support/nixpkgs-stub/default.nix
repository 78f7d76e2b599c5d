# A stub of nixpkgs for evaluating TorchVision recipes with the real Nix evaluator, offline and in
# milliseconds. It is only as good as its fidelity, so it fails where nixpkgs fails, each behaviour
# with its source (../shared/DESIGN.md lists them):
#  - python3Packages.pytorch throws nixpkgs' own message: the alias was removed
#    (pkgs/top-level/python-aliases.nix; both real repositories moved every recipe to `torch`).
#  - torch checks gpuTargets as PyTorch's CMake does (cmake/Modules_CUDA_fix/upstream/FindCUDA/
#    select_compute_arch.cmake, reached through nixpkgs' `export TORCH_CUDA_ARCH_LIST` in
#    torch/source/default.nix, which passes gpuTargets verbatim). The real failure comes at the
#    configure step, hours in; the stub raises it at evaluation with the same words.
#  - torch with CUDA other than 11 or 12 is marked broken (torch/source/default.nix,
#    brokenConditions "Unsupported CUDA version"; the real pytorch-2.10 recipes set allowBroken).
#  - check-meta (pkgs/stdenv/generic/check-meta.nix): a derivation whose meta.platforms excludes
#    the evaluation system, a broken one, or an unfree one (CUDA) without allowUnfree is refused
#    when it is instantiated, with nixpkgs' first line of the message.
#  - config and overlays as nixpkgs takes them (pkgs/top-level/default.nix: overlays extend the
#    package set in order, `final`/`prev`); torch takes `cudaPackages` from the final set, so an
#    overlay selecting CUDA reaches it, and an unknown cudaPackages_X_Y is a missing attribute.
#  - torchvision propagates torch's header-only `dev` output, so a recipe must add torch's `out`
#    (DESIGN.md; build-torchvision 845c4ec "fix(propagate): add customPytorch.out").
#  - A Python package set is overridable as nixpkgs makes it (interpreters/python/passthrufun.nix:
#    the set is callPackage'd with `overrides`, so `python3Packages.override { overrides = pfinal:
#    pprev: { ... }; }` replaces them): its packages are a fixed point, torchvision takes the set's
#    torch. `overrideAttrs` keeps `override` (lib/customisation.nix makeOverridable), as the
#    pytorch-2.10 recipes' `(torch.overrideAttrs f).override { gpuTargets }` needs.
#  - fetchFromGitHub and fetchpatch are fixed-output derivations of their hash (build-support/
#    fetchgithub, fetchpatch); without one, nixpkgs assumes lib.fakeHash and the fetch fails.
#  - torch builds with magma when cudaSupport (torch/source/default.nix, effectiveMagma), so an
#    overlay's `magma.overrideAttrs` reaches it; cudaPackages has cuda_cccl.
#  - cudaPackages_13 is cudaPackages_13_0, as at 6a030d5 (build-pytorch pytorch-2.10-python313
#    docs/pytorch-2.10-cuda13-build-notes.md; matrix.json's cuda_aliases says the same).
# Derivations are real `derivation`s: drvPaths are real (--store dummy:// computes them).
{ system ? builtins.currentSystem, config ? { }, overlays ? [ ], ... }:
let
  inherit (builtins) concatStringsSep elem filter head isFunction match;

  lib = {
    inherit concatStringsSep elem filter head;
    optionalString = c: s: if c then s else "";
    optionals = c: l: if c then l else [ ];
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  };

  hostConfig = {
    "x86_64-linux" = "x86_64-unknown-linux-gnu";
    "aarch64-linux" = "aarch64-unknown-linux-gnu";
  }.${system} or system;
  linux = [ "x86_64-linux" "aarch64-linux" ];

  # check-meta.nix: the first line of each refusal, as nixpkgs words it.
  refusal = attrs: meta:
    let name = "${attrs.pname}-${attrs.version}";
    in
    if (meta.unfree or false) && !(config.allowUnfree or false) then
      "Package ‘${name}’ has an unfree license (‘unfree’), refusing to evaluate."
    else if (meta.broken or false) && !(config.allowBroken or false) then
      "Package ‘${name}’ is marked as broken, refusing to evaluate."
    else if meta ? platforms && !(elem system meta.platforms)
      && !(config.allowUnsupportedSystem or false) then
      "Package ‘${name}’ is not available on the requested hostPlatform:\n"
      + "  hostPlatform.config = \"${hostConfig}\"\n"
      + "  package.meta.platforms = [ ${concatStringsSep " " (map (p: "\"${p}\"") meta.platforms)} ]\n"
      + ", refusing to evaluate."
    else null;

  mkDerivation = attrs:
    let
      meta = attrs.meta or { };
      passthru = attrs.passthru or { };
      problem = refusal attrs meta;
      drv = derivation (removeAttrs attrs [ "meta" "passthru" ] // {
        name = "${attrs.pname}-${attrs.version}";
        # Buildable by the real Nix as root (tests/integration/nix_build_test.cc): every output is
        # a file; the build log names the derivation, so that a test can count its builds.
        builder = "/bin/sh";
        args = [ "-c" "echo \"stub builder: $name\"; for o in \${outputs:-out}; do eval \"echo stub > \\$$o\"; done" ];
        inherit system;
        # Instantiating forces the check, as nixpkgs' `validity.handled` does.
        metaCheck = if problem == null then "ok" else throw problem;
      });
    in
    drv // passthru // {
      inherit meta passthru;
      overrideAttrs = f:
        let next = f attrs;
        in mkDerivation (attrs // (if isFunction next then next attrs else next));
    };

  makeOverridable = f: args:
    f args // {
      override = more: makeOverridable f (args // (if isFunction more then more args else more));
      overrideAttrs = g: makeOverridable (a: (f a).overrideAttrs g) args;
    };

  fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  fixedOutput = name: hash: sha256: derivation ({
    inherit name system;
    builder = "/bin/sh";
    args = [ "-c" "exit 1" ];
    outputHashMode = "recursive";
  } // (if hash == "" && sha256 != "" then { outputHashAlgo = "sha256"; outputHash = sha256; }
        else { outputHash = if hash != "" then hash else fakeHash; }));
  fetchFromGitHub = { owner, repo, rev ? null, tag ? null, hash ? "", sha256 ? "", ... }:
    fixedOutput "source" hash sha256;
  fetchpatch = { url, name ? baseNameOf url, hash ? "", sha256 ? "", ... }:
    fixedOutput name hash sha256;

  # PyTorch's select_compute_arch.cmake: "+PTX" stripped, then MAJOR.MINOR (with a/f) or a name.
  archNames = [ "Kepler+Tegra" "Kepler+Tesla" "Kepler" "Maxwell+Tegra" "Maxwell" "Pascal" "Volta"
                "Turing" "Ampere" "Ada" "Hopper" ];
  validArch = t:
    let bare = let m = match "(.*)\\+PTX" t; in if m == null then t else head m;
    in match "[0-9]+\\.[0-9]+[af]?" bare != null || elem bare archNames;

  cudaSet = version: rec {
    cudaMajorMinorVersion = version;
    cudaMajorVersion = head (builtins.splitVersion version);
    cudatoolkit = mkDerivation {
      pname = "cuda-toolkit";
      inherit version;
      meta = { unfree = true; platforms = linux; };
    };
    cuda_cccl = mkDerivation {
      pname = "cuda_cccl";
      inherit version;
      meta = { unfree = true; platforms = linux; };
    };
  };

  pythonSet = final: pythonVersion: makeOverridable ({ overrides }:
    let
      packages = self: {
        python = { inherit pythonVersion; };
        torch = makeOverridable
          ({ cudaSupport, gpuTargets, cudaPackages }:
            let bad = filter (t: !(validArch t)) gpuTargets;
            in
            if cudaSupport && bad != [ ] then
              throw ("CMake Error at cmake/Modules_CUDA_fix/upstream/FindCUDA/select_compute_arch.cmake: "
                + "Unknown CUDA Architecture Name ${head bad} in CUDA_SELECT_NVCC_ARCH_FLAGS "
                + "(torch's gpuTargets = [ ${concatStringsSep " " gpuTargets} ]; PyTorch's configure step fails so, hours into the build)")
            else
              mkDerivation {
                pname = "torch";
                version = "2.8.0";
                outputs = [ "out" "dev" "lib" "cxxdev" ];
                buildInputs = lib.optionals cudaSupport [ cudaPackages.cudatoolkit final.magma ];
                nativeBuildInputs = [ ];
                patches = [ ];
                preConfigure = lib.optionalString cudaSupport
                  "export TORCH_CUDA_ARCH_LIST=\"${concatStringsSep ";" gpuTargets}\"\n";
                cmakeFlags = [ "-DCUDAToolkit_VERSION=${cudaPackages.cudaMajorMinorVersion}" ];
                passthru = { inherit cudaSupport cudaPackages; };
                meta = {
                  platforms = linux;
                  broken = cudaSupport && !(elem cudaPackages.cudaMajorVersion [ "11" "12" ]);
                };
              })
          {
            cudaSupport = config.cudaSupport or false;
            gpuTargets = [ ];
            inherit (final) cudaPackages;
          };
        torchvision = makeOverridable
          ({ torch }: mkDerivation {
            pname = "torchvision";
            version = "0.23.0";
            propagatedBuildInputs = [ torch.dev ];
            preConfigure = "";
            meta = { homepage = "https://pytorch.org/vision"; platforms = linux; };
          })
          { inherit (self) torch; };
        pytorch = throw "'pytorch' has been renamed to/replaced by 'torch'";
      };
    in
    fix (extend packages overrides))
    { overrides = _: _: { }; };

  base = final: {
    inherit lib config system;
    pkgs = final;
    path = ./.;
    stdenv = { hostPlatform = { inherit system; config = hostConfig; }; inherit mkDerivation; };
    cudaPackages = final.cudaPackages_12_8;
    cudaPackages_12_4 = cudaSet "12.4";
    cudaPackages_12_6 = cudaSet "12.6";
    cudaPackages_12_8 = cudaSet "12.8";
    cudaPackages_12_9 = cudaSet "12.9";
    cudaPackages_13_0 = cudaSet "13.0";
    cudaPackages_13 = final.cudaPackages_13_0;
    cudaPackages_13_1 = cudaSet "13.1";
    addDriverRunpath = mkDerivation { pname = "add-driver-runpath"; version = "0"; };
    magma = mkDerivation {
      pname = "magma";
      version = "2.9.0";
      patches = [ ];
      meta.platforms = linux;
    };
    inherit fetchFromGitHub fetchpatch;
    openblas = mkDerivation { pname = "openblas"; version = "0.3.30"; meta.platforms = linux; };
    python3Packages = final.python313Packages;
    python311Packages = pythonSet final "3.11";
    python312Packages = pythonSet final "3.12";
    python313Packages = pythonSet final "3.13";
  };

  extend = f: overlay: final: let prev = f final; in prev // overlay final prev;
  fix = f: let x = f x; in x;
in
fix (builtins.foldl' extend base overlays)
