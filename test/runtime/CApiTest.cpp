//===- CApiTest.cpp - C API without a GPU: driver loading, errors ---------===//
//
// The driver-loading tests point DELTAJIT_CUDA_DRIVER at libraries that are
// not a usable driver, so they run (and must pass) on machines without one.
// ctest runs each test in its own process (a loaded driver stays loaded).
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <unistd.h>

using deltajit::test::ScopedEnv;

namespace {

const char *kStubDriver = "/usr/local/cuda/lib64/stubs/libcuda.so";

} // namespace

TEST(DriverLoading, MissingLibraryIsNoDriver) {
  ScopedEnv env("DELTAJIT_CUDA_DRIVER", "/nonexistent/libcuda.so.1");
  dj_context_t *ctx = reinterpret_cast<dj_context_t *>(0x1);
  dj_status_t s = dj_context_create(nullptr, &ctx);
  EXPECT_EQ(s, DJ_ERROR_NO_DRIVER) << dj_last_error_message();
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("cannot load the CUDA driver library "
                     "'/nonexistent/libcuda.so.1'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("DELTAJIT_CUDA_DRIVER"), std::string::npos) << msg;
  // The out parameter is left alone on failure.
  EXPECT_EQ(ctx, reinterpret_cast<dj_context_t *>(0x1));
  // A second attempt reports the same.
  EXPECT_EQ(dj_context_create(nullptr, &ctx), DJ_ERROR_NO_DRIVER);
  EXPECT_EQ(msg, dj_last_error_message());
}

TEST(DriverLoading, StubLibraryIsNoDriver) {
  if (::access(kStubDriver, R_OK) != 0)
    GTEST_SKIP() << kStubDriver << " does not exist (no CUDA toolkit here)";
  ScopedEnv env("DELTAJIT_CUDA_DRIVER", kStubDriver);
  dj_context_t *ctx = nullptr;
  EXPECT_EQ(dj_context_create(nullptr, &ctx), DJ_ERROR_NO_DRIVER);
  EXPECT_EQ(ctx, nullptr);
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("is the stub library"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CUDA_ERROR_STUB_LIBRARY"), std::string::npos) << msg;
  EXPECT_NE(msg.find(kStubDriver), std::string::npos) << msg;
}

TEST(DriverLoading, LibraryWithoutCuInitIsNoDriver) {
  ScopedEnv env("DELTAJIT_CUDA_DRIVER", "libm.so.6");
  dj_context_t *ctx = nullptr;
  EXPECT_EQ(dj_context_create(nullptr, &ctx), DJ_ERROR_NO_DRIVER);
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("'libm.so.6' is not a CUDA driver library"),
            std::string::npos)
      << msg;
}

TEST(CApi, StatusStrings) {
  EXPECT_STREQ(dj_status_string(DJ_OK), "DJ_OK");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_INVALID_ARGUMENT),
               "DJ_ERROR_INVALID_ARGUMENT");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_NO_DRIVER), "DJ_ERROR_NO_DRIVER");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_NO_DEVICE), "DJ_ERROR_NO_DEVICE");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_DRIVER), "DJ_ERROR_DRIVER");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_PACKAGE), "DJ_ERROR_PACKAGE");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_NOT_FOUND), "DJ_ERROR_NOT_FOUND");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_OUT_OF_MEMORY),
               "DJ_ERROR_OUT_OF_MEMORY");
  EXPECT_STREQ(dj_status_string(DJ_ERROR_INTERNAL), "DJ_ERROR_INTERNAL");
  EXPECT_STREQ(dj_status_string(static_cast<dj_status_t>(99)),
               "DJ_ERROR_UNKNOWN");
}

TEST(CApi, LastErrorIsClearedBySuccessAndPerThread) {
  EXPECT_EQ(dj_package_check(nullptr), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "dir is NULL");
  std::string other;
  std::thread t([&] { other = dj_last_error_message(); });
  t.join();
  EXPECT_EQ(other, ""); // another thread has its own message
  dj_context_options_t opts;
  dj_context_options_init(&opts); // succeeds without touching the error...
  EXPECT_STREQ(dj_last_error_message(), "dir is NULL");
  dj_context_destroy(nullptr); // ...a dj_ call that succeeds clears it
  EXPECT_STREQ(dj_last_error_message(), "");
}

TEST(CApi, OptionsDefaults) {
  dj_context_options_t opts;
  opts.device_ordinal = 7;
  opts.cache_dir = "x";
  opts.disable_cache = 1;
  dj_context_options_init(&opts);
  EXPECT_EQ(opts.device_ordinal, 0);
  EXPECT_EQ(opts.cache_dir, nullptr);
  EXPECT_EQ(opts.disable_cache, 0);
  dj_context_options_init(nullptr); // accepted
}

TEST(CApi, NullHandlesAreInvalidArguments) {
  EXPECT_EQ(dj_context_create(nullptr, nullptr), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "out is NULL");
  dj_device_info_t info;
  EXPECT_EQ(dj_context_device_info(nullptr, &info), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "ctx is NULL");
  dj_package_t *pkg = nullptr;
  EXPECT_EQ(dj_package_load(nullptr, "/tmp", &pkg), DJ_ERROR_INVALID_ARGUMENT);
  dj_delta_rule_forward_args_t args{};
  EXPECT_EQ(dj_delta_rule_forward(nullptr, nullptr, &args, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "ctx is NULL");
  void *p = nullptr;
  EXPECT_EQ(dj_malloc(nullptr, 16, &p), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(dj_synchronize(nullptr), DJ_ERROR_INVALID_ARGUMENT);
  dj_package_info_t pinfo;
  EXPECT_EQ(dj_package_get_info(nullptr, &pinfo), DJ_ERROR_INVALID_ARGUMENT);
  dj_package_destroy(nullptr);
  dj_context_destroy(nullptr);
}

TEST(CApi, TuningCallsCheckTheirArguments) {
  const char *config = "unchanged";
  EXPECT_EQ(dj_package_entry_config(nullptr, 0, &config),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "pkg is NULL");
  EXPECT_STREQ(config, "unchanged");
  EXPECT_EQ(dj_package_pin_config(nullptr, "bv64_w8_fused"),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "pkg is NULL");
  dj_delta_rule_forward_args_t fwd{};
  dj_delta_rule_decode_args_t dec{};
  size_t index = 7;
  EXPECT_EQ(
      dj_delta_rule_forward_entry(nullptr, nullptr, &fwd, &index, nullptr),
      DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "ctx is NULL");
  EXPECT_EQ(dj_delta_rule_decode_entry(nullptr, nullptr, &dec, &index, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(index, 7u);
  int64_t chunks = -1;
  EXPECT_EQ(
      dj_delta_rule_forward_segment_chunks(nullptr, nullptr, &fwd, 0, &chunks),
      DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "ctx is NULL");
  EXPECT_EQ(chunks, -1);
}

TEST(CApi, RuntimeVersion) {
  EXPECT_EQ(std::string(dj_runtime_version()).rfind("deltajit-runtime ", 0),
            0u);
}

// The model and session calls reject missing handles and outputs with a
// message naming the argument (no GPU needed).
TEST(CApiModels, NullHandlesAreNamed) {
  dj_model_t *model = nullptr;
  EXPECT_EQ(dj_model_load(nullptr, "pkg", nullptr, &model),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("ctx is NULL"),
            std::string::npos);
  EXPECT_EQ(model, nullptr);
  dj_session_t *session = nullptr;
  EXPECT_EQ(dj_session_create(nullptr, nullptr, &session),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("model is NULL"),
            std::string::npos);
  int32_t ids[1] = {0};
  int64_t len[1] = {1};
  EXPECT_EQ(
      dj_session_prefill(nullptr, ids, len, 1, nullptr, nullptr, 0, nullptr),
      DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("session is NULL"),
            std::string::npos);
  EXPECT_EQ(dj_session_decode(nullptr, nullptr, nullptr, nullptr, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(dj_session_generate(nullptr, 1, nullptr, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  size_t n = 0;
  EXPECT_EQ(dj_session_num_states(nullptr, &n), DJ_ERROR_INVALID_ARGUMENT);
  dj_session_options_t opts;
  EXPECT_EQ(dj_session_get_options(nullptr, &opts), DJ_ERROR_INVALID_ARGUMENT);
  dj_model_info_t info;
  EXPECT_EQ(dj_model_get_info(nullptr, &info), DJ_ERROR_INVALID_ARGUMENT);
  // Destroying NULL handles is a no-op.
  dj_model_destroy(nullptr);
  dj_session_destroy(nullptr);
}

TEST(CApiModels, OptionDefaults) {
  dj_model_options_t m;
  m.weights = "x";
  m.seed = 5;
  dj_model_options_init(&m);
  EXPECT_EQ(m.weights, nullptr);
  EXPECT_EQ(m.seed, 0u);
  dj_session_options_t s;
  dj_session_options_init(&s);
  EXPECT_EQ(s.max_batch, 1);
  EXPECT_EQ(s.max_context, 4096);
  EXPECT_EQ(s.use_cuda_graph, 1);
}
