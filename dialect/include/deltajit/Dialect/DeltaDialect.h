//===- DeltaDialect.h - the `delta` dialect ---------------------*- C++ -*-===//
//
// Declares the `delta` dialect, its enums and attributes.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_DIALECT_DELTADIALECT_H
#define DELTAJIT_DIALECT_DELTADIALECT_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Dialect.h"

#include "deltajit/Dialect/DeltaDialect.h.inc"
#include "deltajit/Dialect/DeltaEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "deltajit/Dialect/DeltaAttrs.h.inc"

#endif // DELTAJIT_DIALECT_DELTADIALECT_H
