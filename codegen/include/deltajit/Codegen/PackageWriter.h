//===- PackageWriter.h - write a deltajit package --------------*- C++ -*-===//
//
// Turns a module that went through convert-delta-to-nvvm and the PTX
// pipeline into a package directory: manifest.json + one PTX file per
// kernel module (docs/package-format.md).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_PACKAGEWRITER_H
#define DELTAJIT_CODEGEN_PACKAGEWRITER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <optional>

#include <string>

namespace deltajit {

/// The manifest's name of a tensor element type ("dtype" of package
/// entries): "bf16", "fp16" or "fp32".
std::string manifestDtype(mlir::Type t);

struct PackageSummary {
  int numEntries = 0;
  int numKernels = 0;
  std::string chip;
};

/// Writes the package of `module` into directory `dir`. An existing `dir`
/// is replaced only if it is an earlier deltajit package (or empty); the
/// new package is assembled next to it and renamed into place. Errors are
/// returned as text in `error`. `model`, when given, is the manifest's
/// "model" section (ModelGraph.h).
bool writePackage(mlir::ModuleOp module, llvm::StringRef dir,
                  llvm::StringRef producer, PackageSummary &summary,
                  std::string &error,
                  std::optional<llvm::json::Value> model = std::nullopt);

/// One compiled module of a package and the tile configuration it was
/// compiled with (docs/tuning.md).
struct PackagePart {
  mlir::ModuleOp module;
  /// The entries' "config" ("bv64_w8_fused"); empty: no "config" field.
  std::string config;
  /// Appended to the PTX file names of this part's kernel modules
  /// ("deltajit_kernels<suffix>.ptx"); the parts' suffixes must differ.
  std::string fileSuffix;
};

/// Writes one package from several parts (as above): the entries of
/// parts[0] first, then those of the others in order; kernel names must be
/// unique across parts. Host ops and weights come from parts[0]. `tuning`,
/// when given, is the manifest's "tuning" section.
bool writePackage(llvm::ArrayRef<PackagePart> parts, llvm::StringRef dir,
                  llvm::StringRef producer, PackageSummary &summary,
                  std::string &error,
                  std::optional<llvm::json::Value> model = std::nullopt,
                  std::optional<llvm::json::Value> tuning = std::nullopt);

} // namespace deltajit

#endif // DELTAJIT_CODEGEN_PACKAGEWRITER_H
