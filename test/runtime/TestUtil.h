//===- TestUtil.h - helpers of the runtime tests: temp dirs, packages -----===//

#ifndef DELTAJIT_TEST_RUNTIME_TESTUTIL_H
#define DELTAJIT_TEST_RUNTIME_TESTUTIL_H

#include "Sha256.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace deltajit::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/deltajit-test-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// Sets (or, with nullptr, unsets) an environment variable for a scope.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    const char *old = std::getenv(name);
    hadOld_ = old != nullptr;
    if (old)
      old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (hadOld_)
      ::setenv(name_.c_str(), old_.c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;

private:
  std::string name_, old_;
  bool hadOld_ = false;
};

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

inline std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// Writes `files` (name -> bytes) and manifest.json into `dir`. Modules
/// whose "sha256" is "AUTO" get the real checksum of their file.
inline void writePackage(const std::string &dir, nlohmann::json manifest,
                         const std::map<std::string, std::string> &files) {
  for (const auto &[name, bytes] : files)
    writeFile(dir + "/" + name, bytes);
  if (manifest.contains("modules") && manifest["modules"].is_array())
    for (auto &m : manifest["modules"])
      if (m.is_object() && m.value("sha256", "") == "AUTO" &&
          files.count(m.value("file", "")))
        m["sha256"] = Sha256::hexHash(files.at(m["file"].get<std::string>()));
  writeFile(dir + "/manifest.json", manifest.dump(2));
}

} // namespace deltajit::test

#endif // DELTAJIT_TEST_RUNTIME_TESTUTIL_H
