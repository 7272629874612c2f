//===- CApiHandles.h - what the opaque C API handles hold -----------------===//

#ifndef DELTAJIT_RUNTIME_CAPIHANDLES_H
#define DELTAJIT_RUNTIME_CAPIHANDLES_H

#include "Context.h"
#include "Package.h"

#include <memory>

struct dj_context_t {
  std::shared_ptr<deltajit::Context> impl;
};

struct dj_package_t {
  std::unique_ptr<deltajit::Package> impl;
};

#endif // DELTAJIT_RUNTIME_CAPIHANDLES_H
