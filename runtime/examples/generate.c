/* generate.c - embedding the deltajit runtime from C: load a compiled model,
 * prefill two prompts of different lengths, generate tokens greedily, read
 * one carried state. Build: cc generate.c -I<deltajit>/runtime/include
 * -L<build>/runtime -ldeltajit_runtime. Run: generate PACKAGE_DIR [STEPS].
 * Exit codes: 0 done, 1 runtime error, 2 usage, 3 no GPU / driver. */
#include "deltajit/deltajit.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, dj_status_t s) {
  fprintf(stderr, "generate: %s failed: %s: %s\n", what, dj_status_string(s),
          dj_last_error_message());
  return s == DJ_ERROR_NO_DRIVER || s == DJ_ERROR_NO_DEVICE ? 3 : 1;
}

int main(int argc, char **argv) {
  dj_context_t *ctx = NULL;
  dj_model_t *model = NULL;
  dj_session_t *session = NULL;
  dj_model_options_t mopts;
  dj_session_options_t sopts;
  dj_model_info_t info;
  dj_state_info_t state;
  dj_sampling_t greedy = {0.0f, 0};
  int32_t prompts[7] = {1, 2, 3, 4, 5, 6, 7};
  int64_t lengths[2] = {3, 4}; /* "1 2 3" and "4 5 6 7" */
  int32_t next[2];
  int32_t *out = NULL;
  float *buffer = NULL;
  long steps = argc > 2 ? strtol(argv[2], NULL, 10) : 16;
  int rc = 0;
  dj_status_t s;

  if (argc < 2 || steps < 1) {
    fprintf(stderr, "usage: generate PACKAGE_DIR [STEPS >= 1]\n");
    return 2;
  }
  if ((s = dj_context_create(NULL, &ctx)) != DJ_OK)
    return fail("dj_context_create", s);

  dj_model_options_init(&mopts); /* random weights, seed 0 */
  if ((s = dj_model_load(ctx, argv[1], &mopts, &model)) != DJ_OK) {
    rc = fail("dj_model_load", s);
    goto done;
  }
  dj_model_get_info(model, &info);
  printf("model: vocab %lld, hidden %lld, %zu steps, %zu states, %.1f MB "
         "of %s weights, loaded in %.2f s\n",
         (long long)info.vocab, (long long)info.hidden, info.num_steps,
         info.num_states, info.weight_bytes / 1e6, info.dtype,
         info.load_seconds);

  dj_session_options_init(&sopts);
  sopts.max_batch = 2;
  if ((s = dj_session_create(model, &sopts, &session)) != DJ_OK) {
    rc = fail("dj_session_create", s);
    goto done;
  }
  if ((s = dj_session_prefill(session, prompts, lengths, 2, &greedy, NULL, 0,
                              next)) != DJ_OK) {
    rc = fail("dj_session_prefill", s);
    goto done;
  }
  out = malloc(sizeof(int32_t) * (size_t)steps * 2);
  if (!out) {
    rc = 1;
    goto done;
  }
  if ((s = dj_session_generate(session, steps, &greedy, out)) != DJ_OK) {
    rc = fail("dj_session_generate", s);
    goto done;
  }
  for (int b = 0; b < 2; ++b) {
    printf("sequence %d: %d", b, next[b]);
    for (long i = 0; i < steps; ++i)
      printf(" %d", out[i * 2 + b]);
    printf("\n");
  }
  /* The carried state of the first layer of sequence 0, back on the host. */
  if (info.num_states > 0 &&
      dj_session_state_info(session, 0, &state) == DJ_OK) {
    buffer = malloc(state.bytes_per_sequence);
    if (buffer && dj_session_read_state(session, 0, 0, buffer,
                                        state.bytes_per_sequence) == DJ_OK)
      printf("state '%s' (%s): %llu bytes per sequence\n", state.name,
             state.kind, (unsigned long long)state.bytes_per_sequence);
  }
done:
  free(buffer);
  free(out);
  dj_session_destroy(session);
  dj_model_destroy(model);
  dj_context_destroy(ctx);
  return rc;
}
