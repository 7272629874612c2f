//===- Error.cpp - thread-local last error message and status names -------===//

#include "Error.h"

namespace deltajit {

namespace {
thread_local std::string lastError;
} // namespace

void setLastError(const std::string &message) {
  try {
    lastError = message;
  } catch (...) {
    lastError.clear();
  }
}

void clearLastError() { lastError.clear(); }

const char *lastErrorMessage() { return lastError.c_str(); }

} // namespace deltajit
