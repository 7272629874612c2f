//===- CApiHandles.h - what the C API handles hold, shared argument checks ===//

#ifndef DELTAJIT_RUNTIME_CAPIHANDLES_H
#define DELTAJIT_RUNTIME_CAPIHANDLES_H

#include "Context.h"
#include "Error.h"
#include "Package.h"

#include <memory>

struct dj_context_t {
  std::shared_ptr<deltajit::Context> impl;
};

struct dj_package_t {
  std::unique_ptr<deltajit::Package> impl;
};

namespace deltajit {

/// Throws DJ_ERROR_INVALID_ARGUMENT "<name> is NULL" for a null argument.
template <typename T> void requireArg(const T *p, const char *name) {
  if (!p)
    fail(DJ_ERROR_INVALID_ARGUMENT, name, " is NULL");
}

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_CAPIHANDLES_H
