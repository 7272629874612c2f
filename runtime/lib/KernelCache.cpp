//===- KernelCache.cpp - cubin cache files: format, atomic writes ---------===//

#include "KernelCache.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace deltajit {

namespace {

constexpr char kMagic[8] = {'D', 'J', 'C', 'U', 'B', 'I', 'N', '1'};

void putU64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(uint8_t(v >> (8 * i))));
}

uint64_t getU64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

} // namespace

/// mkdir -p; true when `path` exists as a directory afterwards.
bool makeDirs(const std::string &path) {
  if (path.empty())
    return false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0)
    return S_ISDIR(st.st_mode);
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0 &&
      !makeDirs(path.substr(0, slash)))
    return false;
  if (::mkdir(path.c_str(), 0755) == 0)
    return true;
  return errno == EEXIST && ::stat(path.c_str(), &st) == 0 &&
         S_ISDIR(st.st_mode);
}

static bool writeAll(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

/// Writes `bytes` to `path` atomically: temp file in the same directory,
/// fsync, rename over the destination.
bool atomicWrite(const std::string &dir, const std::string &path,
                 std::string_view bytes) {
  std::string tmpl = dir + "/.tmp-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return false;
  (void)::fchmod(fd, 0644); // mkstemp makes 0600; best effort
  bool ok = writeAll(fd, bytes.data(), bytes.size()) && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (ok)
    ok = ::rename(tmpl.c_str(), path.c_str()) == 0;
  if (!ok) {
    ::unlink(tmpl.c_str());
    return false;
  }
  // Persist the directory entry too (best effort).
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

std::string encodeCacheEntry(const Sha256::Digest &key,
                             std::string_view payload) {
  std::string out;
  out.reserve(kCacheHeaderSize + payload.size());
  out.append(kMagic, sizeof(kMagic));
  out.append(reinterpret_cast<const char *>(key.data()), key.size());
  putU64(out, payload.size());
  Sha256::Digest sum = Sha256::hash(payload);
  out.append(reinterpret_cast<const char *>(sum.data()), sum.size());
  out.append(payload);
  return out;
}

bool decodeCacheEntry(std::string_view bytes, const Sha256::Digest &key,
                      std::string *payload, std::string *why) {
  auto reject = [&](const std::string &reason) {
    if (why)
      *why = reason;
    return false;
  };
  if (bytes.size() < kCacheHeaderSize)
    return reject("truncated header (" + std::to_string(bytes.size()) +
                  " bytes)");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return reject("bad magic");
  if (std::memcmp(bytes.data() + 8, key.data(), key.size()) != 0)
    return reject("key mismatch");
  uint64_t size = getU64(bytes.data() + 40);
  if (size != bytes.size() - kCacheHeaderSize)
    return reject("payload size " +
                  std::to_string(bytes.size() - kCacheHeaderSize) +
                  " but the header says " + std::to_string(size) +
                  " (truncated or extended)");
  std::string_view body = bytes.substr(kCacheHeaderSize);
  Sha256::Digest sum = Sha256::hash(body);
  if (std::memcmp(bytes.data() + 48, sum.data(), sum.size()) != 0)
    return reject("payload checksum mismatch");
  if (payload)
    payload->assign(body.data(), body.size());
  return true;
}

Sha256::Digest cubinCacheKey(std::string_view ptx, int ccMajor, int ccMinor,
                             int driverVersion, std::string_view runtimeVersion,
                             std::string_view jitOptions) {
  Sha256 h;
  h.updateField("deltajit-cubin-cache-key-v1");
  h.updateField(ptx);
  h.updateField("cc=" + std::to_string(ccMajor) + "." +
                std::to_string(ccMinor));
  h.updateField("driver=" + std::to_string(driverVersion));
  h.updateField(runtimeVersion);
  h.updateField(jitOptions);
  return h.finish();
}

std::string defaultCacheDir(const char *explicitDir) {
  if (explicitDir && *explicitDir)
    return explicitDir;
  const char *env = std::getenv("DELTAJIT_CACHE_DIR");
  if (env && *env)
    return env;
  env = std::getenv("XDG_CACHE_HOME");
  if (env && *env)
    return std::string(env) + "/deltajit";
  env = std::getenv("HOME");
  if (env && *env)
    return std::string(env) + "/.cache/deltajit";
  return "";
}

KernelCache::KernelCache(const std::string &root) : root_(root) {
  if (root.empty()) {
    disabledReason_ = "no cache directory";
    return;
  }
  kernelsDir_ = root + "/kernels";
  if (!makeDirs(kernelsDir_)) {
    disabledReason_ =
        "cannot create '" + kernelsDir_ + "': " + std::strerror(errno);
    return;
  }
  if (::access(kernelsDir_.c_str(), W_OK | X_OK) != 0) {
    disabledReason_ = "cannot write '" + kernelsDir_ + "'";
    return;
  }
  enabled_ = true;
}

std::string KernelCache::pathFor(const Sha256::Digest &key) const {
  return kernelsDir_ + "/" + Sha256::hex(key) + ".cubin";
}

KernelCache::Lookup KernelCache::load(const Sha256::Digest &key,
                                      std::string *payload) {
  if (!enabled_)
    return Lookup::Miss;
  std::string path = pathFor(key);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Lookup::Miss;
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) {
    ::unlink(path.c_str());
    return Lookup::Corrupt;
  }
  std::string bytes = os.str();
  if (!decodeCacheEntry(bytes, key, payload, nullptr)) {
    ::unlink(path.c_str());
    return Lookup::Corrupt;
  }
  return Lookup::Hit;
}

bool KernelCache::store(const Sha256::Digest &key, std::string_view payload) {
  if (!enabled_)
    return false;
  return atomicWrite(kernelsDir_, pathFor(key), encodeCacheEntry(key, payload));
}

void KernelCache::remove(const Sha256::Digest &key) {
  if (enabled_)
    ::unlink(pathFor(key).c_str());
}

} // namespace deltajit
