//===- KernelCacheTest.cpp - cubin cache file format, atomicity, recovery -===//

#include "KernelCache.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

using deltajit::KernelCache;
using deltajit::Sha256;
using deltajit::test::readFile;
using deltajit::test::TempDir;
using deltajit::test::writeFile;

namespace {

Sha256::Digest keyOf(const std::string &s) { return Sha256::hash(s); }

std::string decodeWhy(const std::string &bytes, const Sha256::Digest &key) {
  std::string payload, why;
  if (deltajit::decodeCacheEntry(bytes, key, &payload, &why))
    return "";
  return why;
}

size_t countFiles(const std::string &dir) {
  size_t n = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

} // namespace

TEST(CacheEntry, RoundTrip) {
  Sha256::Digest key = keyOf("k");
  std::string payload = "cubin bytes";
  payload += std::string(1, '\0') + "after a NUL";
  std::string bytes = deltajit::encodeCacheEntry(key, payload);
  EXPECT_EQ(bytes.size(), deltajit::kCacheHeaderSize + payload.size());
  EXPECT_EQ(bytes.substr(0, 8), "DJCUBIN1");
  std::string out, why;
  ASSERT_TRUE(deltajit::decodeCacheEntry(bytes, key, &out, &why)) << why;
  EXPECT_EQ(out, payload);
  // An empty payload is a valid entry too.
  ASSERT_TRUE(deltajit::decodeCacheEntry(deltajit::encodeCacheEntry(key, ""),
                                         key, &out, &why));
  EXPECT_EQ(out, "");
}

TEST(CacheEntry, DetectsTruncationAndCorruption) {
  Sha256::Digest key = keyOf("k");
  std::string good = deltajit::encodeCacheEntry(key, std::string(1000, 'c'));

  EXPECT_EQ(decodeWhy("", key), "truncated header (0 bytes)");
  EXPECT_EQ(decodeWhy(good.substr(0, 79), key), "truncated header (79 bytes)");
  EXPECT_EQ(decodeWhy(good.substr(0, 500), key),
            "payload size 420 but the header says 1000 (truncated or "
            "extended)");
  EXPECT_EQ(decodeWhy(good + "x", key),
            "payload size 1001 but the header says 1000 (truncated or "
            "extended)");

  std::string bad = good;
  bad[0] = 'X';
  EXPECT_EQ(decodeWhy(bad, key), "bad magic");
  EXPECT_EQ(decodeWhy(good, keyOf("other")), "key mismatch");

  bad = good;
  bad[deltajit::kCacheHeaderSize + 500] ^= 1; // payload bit flip
  EXPECT_EQ(decodeWhy(bad, key), "payload checksum mismatch");
  bad = good;
  bad[50] ^= 1; // stored checksum bit flip
  EXPECT_EQ(decodeWhy(bad, key), "payload checksum mismatch");
  bad = good;
  bad[40] ^= 1; // size field
  EXPECT_NE(decodeWhy(bad, key).find("but the header says"), std::string::npos);
}

TEST(KernelCache, StoreThenLoadHits) {
  TempDir dir;
  KernelCache cache(dir / "c");
  ASSERT_TRUE(cache.enabled()) << cache.disabledReason();
  Sha256::Digest key = keyOf("module");
  std::string payload(4096, 'p');
  ASSERT_TRUE(cache.store(key, payload));
  std::string path = cache.pathFor(key);
  EXPECT_EQ(path, dir / "c/kernels/" + Sha256::hex(key) + ".cubin");
  EXPECT_TRUE(std::filesystem::exists(path));
  // The atomic write leaves no temp file behind.
  EXPECT_EQ(countFiles(dir / "c/kernels"), 1u);

  std::string out;
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Hit);
  EXPECT_EQ(out, payload);
  EXPECT_EQ(cache.load(keyOf("absent"), &out), KernelCache::Lookup::Miss);

  // Overwriting is atomic and keeps one file.
  ASSERT_TRUE(cache.store(key, "new"));
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Hit);
  EXPECT_EQ(out, "new");
  EXPECT_EQ(countFiles(dir / "c/kernels"), 1u);
}

TEST(KernelCache, TruncatedEntryIsDeletedAndReported) {
  TempDir dir;
  KernelCache cache(dir.path());
  Sha256::Digest key = keyOf("module");
  ASSERT_TRUE(cache.store(key, std::string(1000, 'p')));
  std::string path = cache.pathFor(key);
  std::string bytes = readFile(path);
  writeFile(path, bytes.substr(0, bytes.size() - 10));
  std::string out;
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Corrupt);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Miss);
}

TEST(KernelCache, CorruptEntryIsDeletedAndReported) {
  TempDir dir;
  KernelCache cache(dir.path());
  Sha256::Digest key = keyOf("module");
  ASSERT_TRUE(cache.store(key, std::string(1000, 'p')));
  std::string path = cache.pathFor(key);
  std::string bytes = readFile(path);
  bytes[bytes.size() / 2] ^= 0x40;
  writeFile(path, bytes);
  std::string out;
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Corrupt);
  EXPECT_FALSE(std::filesystem::exists(path));
  // An empty file (a crash before any write, say) is corrupt too.
  writeFile(path, "");
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Corrupt);
  // Rebuild: store again, then it hits.
  ASSERT_TRUE(cache.store(key, "rebuilt"));
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Hit);
  EXPECT_EQ(out, "rebuilt");
}

TEST(KernelCache, RemoveDeletes) {
  TempDir dir;
  KernelCache cache(dir.path());
  Sha256::Digest key = keyOf("module");
  ASSERT_TRUE(cache.store(key, "x"));
  cache.remove(key);
  std::string out;
  EXPECT_EQ(cache.load(key, &out), KernelCache::Lookup::Miss);
}

TEST(KernelCache, UncreatableDirectoryDisablesCaching) {
  TempDir dir;
  writeFile(dir / "file", "not a directory");
  KernelCache cache(dir / "file/sub");
  EXPECT_FALSE(cache.enabled());
  EXPECT_NE(cache.disabledReason().find("cannot create"), std::string::npos)
      << cache.disabledReason();
  std::string out;
  EXPECT_FALSE(cache.store(keyOf("m"), "x"));
  EXPECT_EQ(cache.load(keyOf("m"), &out), KernelCache::Lookup::Miss);
  cache.remove(keyOf("m")); // no-op, no crash

  KernelCache none("");
  EXPECT_FALSE(none.enabled());
}

TEST(KernelCache, KeyDependsOnEveryInput) {
  auto key = [](std::string ptx, int major, int minor, int driver,
                std::string rt, std::string opts) {
    return Sha256::hex(
        deltajit::cubinCacheKey(ptx, major, minor, driver, rt, opts));
  };
  std::string base = key("ptx", 9, 0, 13000, "rt 0.1", "O4");
  EXPECT_EQ(base, key("ptx", 9, 0, 13000, "rt 0.1", "O4"));
  EXPECT_NE(base, key("ptx2", 9, 0, 13000, "rt 0.1", "O4"));
  EXPECT_NE(base, key("ptx", 8, 0, 13000, "rt 0.1", "O4"));
  EXPECT_NE(base, key("ptx", 9, 1, 13000, "rt 0.1", "O4"));
  EXPECT_NE(base, key("ptx", 9, 0, 12080, "rt 0.1", "O4"));
  EXPECT_NE(base, key("ptx", 9, 0, 13000, "rt 0.2", "O4"));
  EXPECT_NE(base, key("ptx", 9, 0, 13000, "rt 0.1", "O3"));
}

TEST(KernelCache, DefaultDirectoryPrecedence) {
  using deltajit::test::ScopedEnv;
  {
    ScopedEnv d("DELTAJIT_CACHE_DIR", "/d"), x("XDG_CACHE_HOME", "/x"),
        h("HOME", "/h");
    EXPECT_EQ(deltajit::defaultCacheDir("/explicit"), "/explicit");
    EXPECT_EQ(deltajit::defaultCacheDir(nullptr), "/d");
  }
  {
    // An empty variable counts as unset.
    ScopedEnv d("DELTAJIT_CACHE_DIR", ""), x("XDG_CACHE_HOME", "/x");
    EXPECT_EQ(deltajit::defaultCacheDir(nullptr), "/x/deltajit");
  }
  {
    ScopedEnv d("DELTAJIT_CACHE_DIR", nullptr), x("XDG_CACHE_HOME", nullptr),
        h("HOME", "/h");
    EXPECT_EQ(deltajit::defaultCacheDir(nullptr), "/h/.cache/deltajit");
  }
  {
    ScopedEnv d("DELTAJIT_CACHE_DIR", nullptr), x("XDG_CACHE_HOME", nullptr),
        h("HOME", nullptr);
    EXPECT_EQ(deltajit::defaultCacheDir(nullptr), "");
  }
}
