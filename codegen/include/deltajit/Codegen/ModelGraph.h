//===- ModelGraph.h - a model's host graph for the runtime -----*- C++ -*-===//
//
// Serialises the prefill function of a model module (`@forward`, as the
// frontend builds it: layer functions called from it, weights as
// ml_program globals) into the "model" section of a package manifest: a
// flat list of steps over per-token activation values, the carried states
// (delta-rule states, short-convolution states, KV caches) and the weights
// the steps read. The runtime's graph executor (runtime/lib/Model.cpp) runs
// the steps for prefill (many tokens per sequence) and decode (one).
// docs/package-format.md documents the format.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_MODELGRAPH_H
#define DELTAJIT_CODEGEN_MODELGRAPH_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace deltajit {

/// True when `module` is a model: it has a public `func.func @forward`
/// whose first argument is the token ids `tensor<?x?xi32|i64>`.
bool isModelModule(mlir::ModuleOp module);

/// Builds the "model" manifest section from `@forward` of a module at the
/// `delta` stage (before tiling). Returns std::nullopt and sets `error`
/// (naming the op and its location) when the graph holds an op the runtime
/// cannot execute.
std::optional<llvm::json::Value> buildModelGraph(mlir::ModuleOp module,
                                                 std::string &error);

} // namespace deltajit

#endif // DELTAJIT_CODEGEN_MODELGRAPH_H
