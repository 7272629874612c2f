//===- DeltaOps.h - ops of the `delta` dialect ------------------*- C++ -*-===//
//
// Declares the layer-level ops of the `delta` dialect (see DeltaOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_DIALECT_DELTAOPS_H
#define DELTAJIT_DIALECT_DELTAOPS_H

#include "deltajit/Dialect/DeltaDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "deltajit/Dialect/DeltaOps.h.inc"

#endif // DELTAJIT_DIALECT_DELTAOPS_H
