# The fake flox's evaluation when it builds through the real Nix (FAKE_FLOX_NIX=real): the recipe
# as flox evaluates a Nix expression build, `callPackage FILE {}` in its nixpkgs with allowUnfree,
# for the system it builds for (DESIGN.md; package-builder/flox-build.mk, nef). Instead of the
# network, every pinned nixpkgs tarball the recipe fetches is `nixpkgs` (the project's stub).
{ recipe, system, nixpkgs }:
let
  urlOf = a: if builtins.isString a then a else a.url;
  pinned = a: builtins.match ".*/nixpkgs/archive/[0-9a-f]+\\.tar\\.gz" (urlOf a) != null;
  fetchTarball = a: if pinned a then /. + nixpkgs else builtins.fetchTarball a;
  # What the recipe imports (a paired torch recipe) is read in the same scope.
  scope = {
    builtins = builtins // { inherit fetchTarball; import = scopedImport scope; };
    inherit fetchTarball;
    import = scopedImport scope;
  };
  f = scopedImport scope (/. + recipe);
  pkgs = import (/. + nixpkgs) { inherit system; config.allowUnfree = true; };
in
f (builtins.intersectAttrs (builtins.functionArgs f) (pkgs // { inherit pkgs; }))
