# A stub of the few nixpkgs attributes a TorchVision recipe touches, for
#   nix-instantiate --eval --strict --json nixpkgs-stub.nix --arg recipe FILE --argstr expected JSON
# It calls the recipe as callPackage would, records what the recipe asks of PyTorch and
# TorchVision, and fails the evaluation, naming the recipe, where its meaning differs from
# `expected` (what the matrix says). On success it prints what it saw.
{ recipe, expected }:
let
  want = builtins.fromJSON expected;

  hasInfix = infix: s:
    let
      n = builtins.stringLength infix;
      m = builtins.stringLength s;
      go = i: i + n <= m && (builtins.substring i n s == infix || go (i + 1));
    in
    go 0;

  # A package stand-in: override merges into `args`, overrideAttrs applies its function to the
  # attributes, as nixpkgs' do.
  package = attrs: attrs // {
    override = args: package (attrs // { args = (attrs.args or { }) // args; });
    overrideAttrs = f: package (attrs // f attrs);
  };
  pythonSet = name: {
    pytorch = package { pname = "torch"; preConfigure = "echo nixpkgs"; meta = { }; set = name; };
    torchvision = package {
      pname = "torchvision";
      preConfigure = "";
      meta = { homepage = "https://pytorch.org/vision"; };
      set = name;
    };
  };
  cuda = version: { name = "cudaPackages_${version}"; };

  pkgs = {
    lib = { concatStringsSep = builtins.concatStringsSep; };
    config = { };
    addDriverRunpath = { };
    openblas = { };
    cudaPackages = { name = "nixpkgs-default"; };
    cudaPackages_12_4 = cuda "12_4";
    cudaPackages_12_6 = cuda "12_6";
    cudaPackages_12_8 = cuda "12_8";
    cudaPackages_12_9 = cuda "12_9";
    python3Packages = pythonSet "python3Packages";
    python311Packages = pythonSet "python311Packages";
    python312Packages = pythonSet "python312Packages";
    python313Packages = pythonSet "python313Packages";
  };

  f = import recipe;
  asked = builtins.functionArgs f;
  unknown = builtins.filter (a: !(pkgs ? ${a})) (builtins.attrNames asked);
  result = f (builtins.intersectAttrs asked pkgs);
  torch = result.args.torch;
  seen = {
    pname = result.pname;
    platforms = result.meta.platforms;
    pythonPackages = torch.set;
    cudaSupport = torch.args.cudaSupport;
    gpuTargets = torch.args.gpuTargets or null;
    cudaPackages = (torch.args.cudaPackages or { name = null; }).name;
  };

  flags = builtins.concatStringsSep " " want.flags;
  hook = name: text:
    hasInfix "export CXXFLAGS=\"$CXXFLAGS ${flags}\"" text
    && hasInfix "export CFLAGS=\"$CFLAGS ${flags}\"" text
    && hasInfix "export MAX_JOBS=32" text;
  check = ok: what: if ok then true else throw "${toString recipe}: ${what}";
  checks = [
    (check (unknown == [ ]) "asks for arguments nixpkgs has not: ${toString unknown}")
    (check (seen.pname == want.pname) "pname is ${seen.pname}, expected ${want.pname}")
    (check (seen.platforms == want.platforms)
      "meta.platforms is [${toString seen.platforms}], expected [${toString want.platforms}]")
    (check (result.meta ? homepage) "meta must extend TorchVision's own (oldAttrs.meta // ...)")
    (check (seen.pythonPackages == want.pythonPackages)
      "overrides ${seen.pythonPackages}, expected ${want.pythonPackages}")
    (check (seen.cudaSupport == want.cudaSupport) "PyTorch's cudaSupport is not ${builtins.toJSON want.cudaSupport}")
    (check (seen.gpuTargets == want.gpuTargets)
      "PyTorch's gpuTargets is ${builtins.toJSON seen.gpuTargets}, expected ${builtins.toJSON want.gpuTargets}")
    (check (seen.cudaPackages == want.cudaPackages)
      "PyTorch's cudaPackages is ${builtins.toJSON seen.cudaPackages}, expected ${builtins.toJSON want.cudaPackages}")
    (check (hook "pytorch" torch.preConfigure) "PyTorch's preConfigure lacks the CPU flags ${flags}")
    (check (hasInfix "echo nixpkgs" torch.preConfigure) "PyTorch's preConfigure drops nixpkgs' own")
    (check (hook "torchvision" result.preConfigure) "TorchVision's preConfigure lacks the CPU flags ${flags}")
  ];
in
builtins.seq (builtins.all (ok: ok) checks) seen
