//===- DeltaDialect.cpp - registration of the `delta` dialect -------------===//
//
// Registers the ops, enums and attributes of the `delta` dialect.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace deltajit::delta;

#include "deltajit/Dialect/DeltaDialect.cpp.inc"
#include "deltajit/Dialect/DeltaEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "deltajit/Dialect/DeltaAttrs.cpp.inc"

void DeltaDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "deltajit/Dialect/DeltaOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "deltajit/Dialect/DeltaAttrs.cpp.inc"
      >();
}
