//===- Error.h - runtime errors: status, message, last error --------------===//
//
// Inside the runtime, failures are C++ exceptions of type deltajit::Error that
// carry a dj_status_t and a message; the C API entry points (CApi.cpp) catch
// them and turn them into a status plus the thread's last error message.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_ERROR_H
#define DELTAJIT_RUNTIME_ERROR_H

#include "deltajit/deltajit.h"

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace deltajit {

/// A runtime failure: the status the C API returns and its message.
class Error : public std::runtime_error {
public:
  Error(dj_status_t status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  dj_status_t status() const { return status_; }

private:
  dj_status_t status_;
};

/// Concatenates the stream-printable arguments into a string.
template <typename... Args> std::string concat(Args &&...args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

/// Throws an Error whose message is the concatenation of `args`.
template <typename... Args>
[[noreturn]] void fail(dj_status_t status, Args &&...args) {
  throw Error(status, concat(std::forward<Args>(args)...));
}

/// The integer in an enum field filled by a C caller, read without assuming
/// it is one of the enumerators (loading an out-of-range enum is undefined
/// in C++).
template <typename E> int rawEnum(const E &e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized here");
  int v;
  std::memcpy(&v, &e, sizeof(v));
  return v;
}

/// Records the outcome of the current C API call for dj_last_error_message.
void setLastError(const std::string &message);
void clearLastError();
const char *lastErrorMessage();

/// Runs `body` and converts any exception into a status + last error.
template <typename F> dj_status_t guard(F &&body) noexcept {
  try {
    body();
    clearLastError();
    return DJ_OK;
  } catch (const Error &e) {
    setLastError(e.what());
    return e.status();
  } catch (const std::bad_alloc &) {
    setLastError("out of host memory");
    return DJ_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception &e) {
    setLastError(std::string("internal error: ") + e.what());
    return DJ_ERROR_INTERNAL;
  } catch (...) {
    setLastError("internal error: unknown exception");
    return DJ_ERROR_INTERNAL;
  }
}

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_ERROR_H
