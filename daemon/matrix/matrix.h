// The variant matrix: the lookup tables of matrix.json, the cells of the configured matrix and
// the constraints that exclude some of them. Pure data and pure functions; every module uses it.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/matrix/variant_key.h"

namespace tvd {

struct PythonVersion {
  std::string name;      // {PYTHON}: python313
  std::string packages;  // {PYTHON_PACKAGES}: python3Packages
  std::string version;   // {PYTHON_VERSION}: 3.13
};

struct CudaVersion {
  std::string version;  // {CUDA_VERSION}: 12.8
  int major = 0;
  int minor = 0;
  std::string packages;   // the nixpkgs attribute: cudaPackages_12_8, selected by an overlay
  bool available = true;  // when the matrix has no nixpkgs pin (flox's own nixpkgs)
  std::string unavailable_reason;
  // Why nixpkgs' torch is marked broken with this CUDA, so recipes set allowBroken; empty: it is
  // not.
  std::string allow_broken;

  std::string token() const;  // {CUDA_MAJOR}_{CUDA_MINOR}: 12_8
};

bool operator<(const CudaVersion& a, const CudaVersion& b);

// What a recipe adds to PyTorch's build for one GPU architecture or ISA, with why: environment
// variables exported in PyTorch's preConfigure and flags appended to its cmakeFlags.
struct TorchTweaks {
  std::vector<std::string> exports;      // "USE_CUDNN=0"
  std::vector<std::string> cmake_flags;  // "-DUSE_NNPACK=OFF"
  std::string reason;
};

// A nixpkgs revision recipes import (the real repositories pin one per branch), and the CUDA
// versions it is known to have.
struct NixpkgsPin {
  std::string name;               // pytorch-2.8
  std::string commit;             // 40 hex digits
  std::string sha256;             // of the tarball; empty when not known (tvd check warns)
  std::vector<std::string> cuda;  // CUDA versions, "12.8"
  std::string source;             // where the pin comes from
  // What an unversioned CUDA attribute selects at this commit ("cudaPackages_13" -> "13.0"),
  // where it is known, and from where: nixpkgs moves these aliases from one release to the next.
  std::map<std::string, std::string> cuda_aliases;
  std::string cuda_aliases_source;
  std::string url() const;  // the GitHub archive tarball of `commit`
  bool has_cuda(std::string_view version) const;
};

// The CUDA version `attr` (cudaPackages_12_8, or an alias: cudaPackages_13, cudaPackages) selects
// in the nixpkgs of `commit`: a versioned name says it itself; an alias, what `pins` know of that
// commit. nullopt: not known.
std::optional<std::string> cuda_selected(std::string_view attr, std::string_view commit,
                                         const std::vector<NixpkgsPin>* pins);

struct GpuArch {
  std::string name;     // {GPU_ARCH}: sm89
  std::string upper;    // {GPU_ARCH_UPPER}: SM89
  std::string decimal;  // {GPU_ARCH_DECIMAL}: 8.9
  std::string num;      // {GPU_ARCH_NUM}: 89
  std::string description;
  std::string hardware;
  std::map<std::string, std::string> cpu_hardware;    // by platform; reference only
  std::map<std::string, std::string> choose_this_if;  // by platform
  TorchTweaks torch;
};

struct CpuIsa {
  std::string name;   // as the seed writes it: armv8.2
  std::string token;  // {CPU_ISA}, as names write it: armv8_2
  std::string description;
  std::vector<std::string> flags;
  std::string platform;  // x86_64-linux | aarch64-linux
  std::string hardware;
  TorchTweaks torch;
};

struct Constraint {
  std::string gpu_arch;
  std::optional<std::string> min_cuda;  // version text, e.g. 12.9
  std::vector<std::string> platforms;   // empty: any
  std::vector<std::string> isas;        // tokens; empty: any
  std::string reason;
};

// The lists that span the matrix; names as in the tables (ISAs by name or token).
struct Axes {
  std::vector<std::string> python;
  std::vector<std::string> cuda;
  std::vector<std::string> gpu_archs;
  std::vector<std::string> cpu_isas;
  bool cpu_only = true;
};

// What a recipe builds: its package names start with `prefix`, and people call it `display`.
// A product has templates of its own (the recipe module finds them by `name`), and may take its
// torch from another product's recipe of the same cell (`depends_on`), as TorchVision does from
// PyTorch's when its environment is paired with a PyTorch one.
struct Product {
  std::string name;          // torchvision
  std::string prefix;        // torchvision-
  std::string display;       // TorchVision
  std::string depends_on{};  // "pytorch"; empty: none
};

// The products tvd knows without configuration: pytorch (build-pytorch's recipes) and
// torchvision (build-torchvision's), which depends on pytorch.
const std::vector<Product>& builtin_products();
const Product* find_builtin_product(std::string_view name);

// Where a product's variants are built: one git checkout (one branch) with `.flox/`, with its
// matrix. A variant is (environment, package). Today a host serves the one its config names.
struct Environment {
  std::string name{kDefaultEnvironment};  // the store's key
  std::filesystem::path checkout = ".";   // the flox environment's git checkout
};

// One cell: a Python, an ISA, and for GPU builds a CUDA version and an architecture, of a
// product. The pointers refer into the Matrix that made it, which outlives it.
struct Variant {
  const PythonVersion* python = nullptr;
  const CudaVersion* cuda = nullptr;  // null for CPU-only
  const GpuArch* gpu = nullptr;       // null for CPU-only
  const CpuIsa* isa = nullptr;
  const NixpkgsPin* nixpkgs = nullptr;  // null: flox's own nixpkgs
  const Product* product = nullptr;
  const Environment* environment = nullptr;
  // Every pin the matrix knows: a recipe may import another than the configured one.
  const std::vector<NixpkgsPin>* pins = nullptr;

  bool is_gpu() const { return gpu != nullptr; }
  // The package name, also the file name without .nix: torchvision-python313-cuda12_8-sm89-avx2.
  std::string package() const;
  // Without the product's prefix: python313-cuda12_8-sm89-avx2, python313-cpu-avx2.
  std::string qualified() const;
  // Without Python and CUDA: sm89-avx2, cpu-avx2.
  std::string core() const;
  // What work on it is keyed on: its environment's name and its package.
  VariantKey key() const { return {environment->name, package()}; }
  friend bool operator==(const Variant&, const Variant&) = default;
};

class Matrix {
 public:
  // Parses matrix.json (comments allowed). Every problem is reported with its JSON path.
  static Result<Matrix> parse(std::string_view json_text, std::string_view origin);
  // The copy embedded in the binary.
  static Result<Matrix> embedded();

  Matrix(Matrix&&) = default;
  Matrix& operator=(Matrix&&) = default;
  Matrix(const Matrix&) = delete;  // variants point into the tables
  Matrix& operator=(const Matrix&) = delete;

  const std::vector<PythonVersion>& pythons() const { return pythons_; }
  const std::vector<CudaVersion>& cudas() const { return cudas_; }
  const std::vector<GpuArch>& gpu_archs() const { return gpu_archs_; }
  const std::vector<CpuIsa>& cpu_isas() const { return cpu_isas_; }
  const std::vector<Constraint>& constraints() const { return constraints_; }
  const Axes& axes() const { return axes_; }
  const PythonVersion& default_python() const { return *default_python_; }
  const CudaVersion& default_cuda() const { return *default_cuda_; }
  const std::vector<NixpkgsPin>& pins() const { return *pins_; }
  // The pin recipes import; null means flox's own nixpkgs.
  const NixpkgsPin* nixpkgs() const { return nixpkgs_; }
  const NixpkgsPin* find_pin(std::string_view name) const;
  // A config's choice: a pin's name, or "flox" for flox's own nixpkgs.
  Status set_nixpkgs(std::string_view name);
  // A cell with this matrix's nixpkgs.
  Variant variant(const PythonVersion* py, const CudaVersion* cuda, const GpuArch* gpu,
                  const CpuIsa* isa) const {
    return Variant{py,         cuda, gpu, isa, nixpkgs_, &products_.front(), &environments_.front(),
                   pins_.get()};
  }
  // What this matrix's recipes build (torchvision unless set).
  const Product& product() const { return products_.front(); }
  void set_product(Product p) { products_.front() = std::move(p); }
  // Where they are built (a config's flox_env).
  const Environment& environment() const { return environments_.front(); }
  void set_environment(Environment e) { environments_.front() = std::move(e); }

  const PythonVersion* find_python(std::string_view name) const;
  const CudaVersion* find_cuda(std::string_view version) const;  // "12.9" or "12_9"
  const GpuArch* find_gpu_arch(std::string_view name) const;
  const CpuIsa* find_isa(std::string_view name_or_token) const;

  // Replaces the axes (a config's override); every name must be in the tables.
  Status set_axes(Axes axes);

  // The cell of this matrix with v's Python, CUDA, GPU architecture and ISA (v may be another
  // matrix's); nullopt when a table lacks one of them.
  std::optional<Variant> counterpart(const Variant& v) const;

  // Every cell of the configured matrix, GPU cells first (Python, CUDA, arch, ISA in table
  // order), then CPU-only cells.
  std::vector<Variant> cells() const;

  // Why a variant cannot be built; empty when it can. One sentence per broken constraint.
  std::vector<std::string> exclusions(const Variant& v) const;

 private:
  Matrix() = default;

  std::vector<PythonVersion> pythons_;
  std::vector<CudaVersion> cudas_;
  std::vector<GpuArch> gpu_archs_;
  std::vector<CpuIsa> cpu_isas_;
  std::vector<Constraint> constraints_;
  Axes axes_;
  const PythonVersion* default_python_ = nullptr;
  const CudaVersion* default_cuda_ = nullptr;
  // On the heap, so that variants' `pins` stay valid when the matrix moves.
  std::unique_ptr<std::vector<NixpkgsPin>> pins_ = std::make_unique<std::vector<NixpkgsPin>>();
  const NixpkgsPin* nixpkgs_ = nullptr;
  // One; on the heap, so that variants keep pointing at it when the Matrix moves.
  std::vector<Product> products_{*find_builtin_product("torchvision")};
  std::vector<Environment> environments_{Environment{}};  // likewise
};

// What PyTorch's CMake (CUDA_SELECT_NVCC_ARCH_FLAGS) accepts in TORCH_CUDA_ARCH_LIST: a dotted
// capability ("8.9", "9.0a", "10.0f", optionally "+PTX") or an architecture name ("Ampere").
// Empty when `target` is accepted, else why not.
std::string cuda_arch_problem(std::string_view target);

// "12.9" -> {12, 9}; also accepts "12_9".
std::optional<std::pair<int, int>> parse_cuda_version(std::string_view text);

}  // namespace tvd
