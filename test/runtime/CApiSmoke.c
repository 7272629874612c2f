/* CApiSmoke.c - the header compiles as C99; the shared library links. */
#include "deltajit/deltajit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  dj_context_options_t opts;
  dj_context_t *ctx = NULL;
  dj_delta_rule_forward_args_t args;
  dj_status_t s;

  CHECK(strcmp(dj_status_string(DJ_ERROR_PACKAGE), "DJ_ERROR_PACKAGE") == 0);
  CHECK(strncmp(dj_runtime_version(), "deltajit-runtime ", 17) == 0);

  s = dj_package_check(NULL);
  CHECK(s == DJ_ERROR_INVALID_ARGUMENT);
  CHECK(strcmp(dj_last_error_message(), "dir is NULL") == 0);

  /* No usable driver at this path: a clean status, no abort. */
  setenv("DELTAJIT_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  dj_context_options_init(&opts);
  opts.disable_cache = 1;
  s = dj_context_create(&opts, &ctx);
  CHECK(s == DJ_ERROR_NO_DRIVER);
  CHECK(ctx == NULL);
  CHECK(strstr(dj_last_error_message(), "/nonexistent/libcuda.so.1") != NULL);

  memset(&args, 0, sizeof(args));
  args.scale = NAN;
  s = dj_delta_rule_forward(NULL, NULL, &args, NULL);
  CHECK(s == DJ_ERROR_INVALID_ARGUMENT);

  dj_context_destroy(NULL);
  dj_package_destroy(NULL);
  if (failures == 0)
    printf("C API smoke test passed\n");
  return failures == 0 ? 0 : 1;
}
