//===- CApiModel.cpp - the dj_model_* / dj_session_* C API ----------------===//

#include "CApiHandles.h"
#include "Error.h"
#include "Model.h"

#include "deltajit/deltajit.h"

#include <cmath>
#include <memory>

using namespace deltajit;

struct dj_model_t {
  std::unique_ptr<Model> impl;
};

struct dj_session_t {
  std::unique_ptr<Session> impl;
  Model *model = nullptr;
};

namespace {

Session &sessionOf(const dj_session_t *s) {
  requireArg(s, "session");
  return *s->impl;
}

Context &contextOf(const dj_session_t *s) { return s->model->context(); }

void sampling(const dj_sampling_t *s, float &temperature, uint64_t &seed) {
  temperature = s ? s->temperature : 0.0f;
  seed = s ? s->seed : 0;
  if (std::isnan(temperature))
    fail(DJ_ERROR_INVALID_ARGUMENT, "sampling->temperature is NaN");
}

const char *kindName(StateKind k) {
  switch (k) {
  case StateKind::Delta:
    return "delta";
  case StateKind::Conv:
    return "conv";
  case StateKind::KV:
    return "kv";
  }
  return "?";
}

} // namespace

extern "C" {

void dj_model_options_init(dj_model_options_t *opts) {
  if (opts) {
    opts->weights = nullptr;
    opts->seed = 0;
  }
}

dj_status_t dj_model_load(dj_context_t *ctx, const char *package_dir,
                          const dj_model_options_t *opts, dj_model_t **out) {
  return guard([&] {
    requireArg(ctx, "ctx");
    requireArg(package_dir, "package_dir");
    requireArg(out, "out");
    dj_model_options_t o;
    dj_model_options_init(&o);
    if (opts)
      o = *opts;
    auto handle = std::make_unique<dj_model_t>();
    {
      ContextScope scope(*ctx->impl);
      handle->impl = Model::load(ctx->impl, package_dir,
                                 o.weights ? o.weights : "", o.seed);
    }
    *out = handle.release();
  });
}

void dj_model_destroy(dj_model_t *model) {
  guard([&] {
    if (!model)
      return;
    std::unique_ptr<dj_model_t> owned(model);
    try {
      ContextScope scope(model->impl->context());
      model->impl->release();
    } catch (...) {
      // The context could not be made current: leak the device memory
      // rather than fail.
    }
  });
}

dj_status_t dj_model_get_info(const dj_model_t *model, dj_model_info_t *info) {
  return guard([&] {
    requireArg(model, "model");
    requireArg(info, "info");
    const ModelGraph &g = model->impl->graph();
    info->vocab = g.vocab;
    info->hidden = g.hidden;
    info->num_steps = g.steps.size();
    info->num_states = g.states.size();
    info->num_weights = g.weights.size();
    info->weight_bytes = model->impl->weightBytes();
    info->dtype = g.dtype.c_str();
    info->load_seconds = model->impl->loadSeconds();
  });
}

void dj_session_options_init(dj_session_options_t *opts) {
  if (opts) {
    opts->max_batch = 1;
    opts->max_context = 4096;
    opts->use_cuda_graph = 1;
  }
}

dj_status_t dj_session_create(dj_model_t *model,
                              const dj_session_options_t *opts,
                              dj_session_t **out) {
  return guard([&] {
    requireArg(model, "model");
    requireArg(out, "out");
    dj_session_options_t o;
    dj_session_options_init(&o);
    if (opts)
      o = *opts;
    Session::Options so;
    so.maxBatch = o.max_batch;
    so.maxContext = o.max_context;
    so.useCudaGraph = o.use_cuda_graph != 0;
    auto handle = std::make_unique<dj_session_t>();
    handle->model = model->impl.get();
    {
      ContextScope scope(model->impl->context());
      handle->impl = std::make_unique<Session>(*model->impl, so);
    }
    *out = handle.release();
  });
}

void dj_session_destroy(dj_session_t *session) {
  guard([&] {
    if (!session)
      return;
    std::unique_ptr<dj_session_t> owned(session);
    try {
      ContextScope scope(contextOf(session));
      session->impl->release();
    } catch (...) {
    }
  });
}

dj_status_t dj_session_reset(dj_session_t *session, int64_t slot) {
  return guard([&] {
    Session &s = sessionOf(session);
    ContextScope scope(contextOf(session));
    s.reset(slot);
  });
}

dj_status_t dj_session_prefill(dj_session_t *session, const int32_t *ids,
                               const int64_t *lengths, int64_t num_seqs,
                               const dj_sampling_t *sampling_, float *logits,
                               int all_logits, int32_t *next_ids) {
  return guard([&] {
    Session &s = sessionOf(session);
    requireArg(ids, "ids");
    requireArg(lengths, "lengths");
    float t;
    uint64_t seed;
    sampling(sampling_, t, seed);
    ContextScope scope(contextOf(session));
    s.prefill(ids, lengths, num_seqs, t, seed, logits, all_logits != 0,
              next_ids);
  });
}

dj_status_t dj_session_decode(dj_session_t *session, const int32_t *ids,
                              const dj_sampling_t *sampling_, float *logits,
                              int32_t *next_ids) {
  return guard([&] {
    Session &s = sessionOf(session);
    float t;
    uint64_t seed;
    sampling(sampling_, t, seed);
    ContextScope scope(contextOf(session));
    s.decode(ids, t, seed, logits, next_ids);
  });
}

dj_status_t dj_session_generate(dj_session_t *session, int64_t steps,
                                const dj_sampling_t *sampling_,
                                int32_t *out_ids) {
  return guard([&] {
    Session &s = sessionOf(session);
    float t;
    uint64_t seed;
    sampling(sampling_, t, seed);
    ContextScope scope(contextOf(session));
    s.generate(steps, t, seed, out_ids);
  });
}

dj_status_t dj_session_get_options(const dj_session_t *session,
                                   dj_session_options_t *out) {
  return guard([&] {
    const Session &s = sessionOf(session);
    requireArg(out, "out");
    out->max_batch = s.options().maxBatch;
    out->max_context = s.options().maxContext;
    out->use_cuda_graph = s.options().useCudaGraph ? 1 : 0;
  });
}

dj_status_t dj_session_length(const dj_session_t *session, int64_t slot,
                              int64_t *length) {
  return guard([&] {
    const Session &s = sessionOf(session);
    requireArg(length, "length");
    s.checkSlot(slot);
    *length = s.length(slot);
  });
}

dj_status_t dj_session_num_states(const dj_session_t *session, size_t *count) {
  return guard([&] {
    sessionOf(session);
    requireArg(count, "count");
    *count = session->model->graph().states.size();
  });
}

dj_status_t dj_session_state_info(const dj_session_t *session, size_t index,
                                  dj_state_info_t *info) {
  return guard([&] {
    const Session &s = sessionOf(session);
    requireArg(info, "info");
    const ModelGraph &g = session->model->graph();
    if (index >= g.states.size())
      fail(DJ_ERROR_INVALID_ARGUMENT, "state index ", index,
           " is out of range (the model has ", g.states.size(), ")");
    info->name = g.states[index].name.c_str();
    info->kind = kindName(g.states[index].kind);
    info->bytes_per_sequence = s.stateBytes(index);
  });
}

dj_status_t dj_session_read_state(dj_session_t *session, size_t index,
                                  int64_t slot, void *host, size_t bytes) {
  return guard([&] {
    Session &s = sessionOf(session);
    requireArg(host, "host");
    ContextScope scope(contextOf(session));
    s.readState(index, slot, host, bytes);
  });
}

dj_status_t dj_session_write_state(dj_session_t *session, size_t index,
                                   int64_t slot, const void *host,
                                   size_t bytes) {
  return guard([&] {
    Session &s = sessionOf(session);
    requireArg(host, "host");
    ContextScope scope(contextOf(session));
    s.writeState(index, slot, host, bytes);
  });
}

dj_status_t dj_session_set_length(dj_session_t *session, int64_t slot,
                                  int64_t length) {
  return guard([&] {
    Session &s = sessionOf(session);
    s.setLength(slot, length);
  });
}

} // extern "C"
