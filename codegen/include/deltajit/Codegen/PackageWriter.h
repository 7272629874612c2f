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

} // namespace deltajit

#endif // DELTAJIT_CODEGEN_PACKAGEWRITER_H
