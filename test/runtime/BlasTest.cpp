//===- BlasTest.cpp - cuBLASLt loading without a GPU: error paths ---------===//
//
// loadCublasLt() needs no GPU, so its failures are tested everywhere. ctest
// runs each test in its own process (a loaded library stays loaded).
//
//===----------------------------------------------------------------------===//

#include "Blas.h"
#include "Error.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <string>

using deltajit::Error;
using deltajit::loadCublasLt;
using deltajit::test::ScopedEnv;

TEST(BlasLoading, MissingLibraryIsNoDriver) {
  ScopedEnv env("DELTAJIT_CUBLASLT", "/nonexistent/libcublasLt.so.13");
  try {
    loadCublasLt();
    FAIL() << "loadCublasLt() succeeded with a nonexistent library";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NO_DRIVER);
    std::string msg = e.what();
    EXPECT_NE(msg.find("cannot load cuBLASLt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nonexistent/libcublasLt.so.13"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("DELTAJIT_CUBLASLT"), std::string::npos) << msg;
  }
  // A second attempt reports the same.
  try {
    loadCublasLt();
    FAIL() << "the second attempt succeeded";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NO_DRIVER);
  }
}

TEST(BlasLoading, LibraryWithoutCublasLtSymbolsIsNoDriver) {
  ScopedEnv env("DELTAJIT_CUBLASLT", "libm.so.6");
  try {
    loadCublasLt();
    FAIL() << "loadCublasLt() accepted libm";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NO_DRIVER);
    std::string msg = e.what();
    EXPECT_NE(msg.find("libm.so.6: not cuBLASLt: no symbol "
                       "'cublasLtGetVersion'"),
              std::string::npos)
        << msg;
  }
}

TEST(BlasLoading, DefaultSearchNamesEveryCandidateOrLoads) {
  // Without the override: either a cuBLASLt is found (a CUDA toolkit is
  // here), or the error lists the sonames and the toolkit directories.
  ScopedEnv env("DELTAJIT_CUBLASLT", nullptr);
  ScopedEnv home("CUDA_HOME", "/nonexistent-cuda-home");
  try {
    std::string path = loadCublasLt();
    EXPECT_NE(path.find("libcublasLt.so.1"), std::string::npos) << path;
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NO_DRIVER);
    std::string msg = e.what();
    for (const char *p : {"libcublasLt.so.13", "libcublasLt.so.12",
                          "/nonexistent-cuda-home/lib64/libcublasLt.so.13",
                          "/usr/local/cuda/lib64/libcublasLt.so.12"})
      EXPECT_NE(msg.find(p), std::string::npos) << p << " in " << msg;
  }
}
