//===- CApi.cpp - the dj_* C API: handles, argument checks, error capture -===//

#include "Context.h"
#include "DeltaRule.h"
#include "Error.h"
#include "Launcher.h"
#include "Manifest.h"
#include "Package.h"
#include "Weights.h"

#include "deltajit/deltajit.h"

#include <cstdint>
#include <memory>

using namespace deltajit;

#include "CApiHandles.h"

namespace {

Context &contextOf(dj_context_t *ctx) {
  requireArg(ctx, "ctx");
  return *ctx->impl;
}

Package &packageOf(dj_context_t *ctx, dj_package_t *pkg) {
  requireArg(ctx, "ctx");
  requireArg(pkg, "pkg");
  if (pkg->impl->contextRef() != ctx->impl)
    fail(DJ_ERROR_INVALID_ARGUMENT,
         "pkg was loaded in a different context than ctx");
  return *pkg->impl;
}

CUdeviceptr devicePtr(const void *p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

CUstream streamOf(void *stream) { return static_cast<CUstream>(stream); }

} // namespace

extern "C" {

const char *dj_status_string(dj_status_t status) {
  switch (rawEnum(status)) {
  case DJ_OK:
    return "DJ_OK";
  case DJ_ERROR_INVALID_ARGUMENT:
    return "DJ_ERROR_INVALID_ARGUMENT";
  case DJ_ERROR_NO_DRIVER:
    return "DJ_ERROR_NO_DRIVER";
  case DJ_ERROR_NO_DEVICE:
    return "DJ_ERROR_NO_DEVICE";
  case DJ_ERROR_DRIVER:
    return "DJ_ERROR_DRIVER";
  case DJ_ERROR_PACKAGE:
    return "DJ_ERROR_PACKAGE";
  case DJ_ERROR_NOT_FOUND:
    return "DJ_ERROR_NOT_FOUND";
  case DJ_ERROR_OUT_OF_MEMORY:
    return "DJ_ERROR_OUT_OF_MEMORY";
  case DJ_ERROR_INTERNAL:
    return "DJ_ERROR_INTERNAL";
  }
  return "DJ_ERROR_UNKNOWN";
}

const char *dj_last_error_message(void) { return lastErrorMessage(); }

const char *dj_runtime_version(void) { return runtimeVersion(); }

void dj_context_options_init(dj_context_options_t *opts) {
  if (!opts)
    return;
  opts->device_ordinal = 0;
  opts->cache_dir = nullptr;
  opts->disable_cache = 0;
}

dj_status_t dj_context_create(const dj_context_options_t *opts,
                              dj_context_t **out) {
  return guard([&] {
    requireArg(out, "out");
    dj_context_options_t defaults;
    dj_context_options_init(&defaults);
    auto handle = std::make_unique<dj_context_t>();
    handle->impl = Context::create(opts ? *opts : defaults);
    *out = handle.release();
  });
}

void dj_context_destroy(dj_context_t *ctx) {
  guard([&] { delete ctx; });
}

dj_status_t dj_context_device_info(dj_context_t *ctx, dj_device_info_t *info) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(info, "info");
    *info = c.info();
  });
}

dj_status_t dj_context_cache_dir(dj_context_t *ctx, const char **dir) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(dir, "dir");
    *dir = c.cache().enabled() ? c.cache().root().c_str() : nullptr;
  });
}

dj_status_t dj_context_trim(dj_context_t *ctx) {
  return guard([&] {
    Context &c = contextOf(ctx);
    ContextScope scope(c);
    c.trim();
  });
}

dj_status_t dj_package_check(const char *dir) {
  return guard([&] {
    requireArg(dir, "dir");
    readPackage(dir);
  });
}

dj_status_t dj_weights_check(const char *package_dir,
                             const char *safetensors_path) {
  return guard([&] {
    requireArg(package_dir, "package_dir");
    requireArg(safetensors_path, "safetensors_path");
    std::vector<TensorInfo> needed = readPackageWeights(package_dir);
    if (needed.empty())
      fail(DJ_ERROR_PACKAGE, "package '", package_dir,
           "' lists no weights (compiled from a model with deltac?)");
    std::vector<std::string> problems =
        compareWeights(needed, readSafetensorsHeader(safetensors_path));
    if (problems.empty())
      return;
    std::string message =
        concat("checkpoint '", safetensors_path, "' does not fit package '",
               package_dir, "': ", problems.size(), " problem(s)");
    for (size_t i = 0; i < problems.size() && i < 10; ++i)
      message += "\n  " + problems[i];
    if (problems.size() > 10)
      message += concat("\n  ... and ", problems.size() - 10, " more");
    fail(DJ_ERROR_INVALID_ARGUMENT, message);
  });
}

dj_status_t dj_package_load(dj_context_t *ctx, const char *dir,
                            dj_package_t **out) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(dir, "dir");
    requireArg(out, "out");
    auto handle = std::make_unique<dj_package_t>();
    {
      ContextScope scope(c);
      handle->impl = Package::load(ctx->impl, dir);
    }
    *out = handle.release();
  });
}

void dj_package_destroy(dj_package_t *pkg) {
  guard([&] {
    if (!pkg)
      return;
    std::unique_ptr<dj_package_t> owned(pkg);
    try {
      ContextScope scope(pkg->impl->context());
      pkg->impl->unload();
    } catch (...) {
      // The context could not be made current: leak the modules rather
      // than fail (the primary context's release frees them).
    }
  });
}

dj_status_t dj_package_get_info(const dj_package_t *pkg,
                                dj_package_info_t *info) {
  return guard([&] {
    requireArg(pkg, "pkg");
    requireArg(info, "info");
    const Package &p = *pkg->impl;
    const Manifest &m = p.manifest();
    info->producer = m.producer.c_str();
    info->arch = m.target.arch.c_str();
    info->sm = m.target.sm;
    info->num_modules = m.modules.size();
    info->num_entries = m.entries.size();
    info->modules_from_cache = p.modulesFromCache;
    info->modules_compiled = p.modulesCompiled;
    info->cache_entries_rebuilt = p.cacheEntriesRebuilt;
  });
}

dj_status_t dj_package_entry_info(const dj_package_t *pkg, size_t index,
                                  dj_entry_info_t *info) {
  return guard([&] {
    requireArg(pkg, "pkg");
    requireArg(info, "info");
    const Manifest &m = pkg->impl->manifest();
    if (index >= m.entries.size())
      fail(DJ_ERROR_INVALID_ARGUMENT, "entry index ", index,
           " is out of range: the package has ", m.entries.size(), " entries");
    const EntrySpec &e = m.entries[index];
    info->op = e.op.c_str();
    info->dtype = e.dtype ? e.dtype->c_str() : nullptr;
    info->dk = e.dk.value_or(-1);
    info->dv = e.dv.value_or(-1);
    info->chunk = e.chunk.value_or(-1);
    info->use_qk_l2norm = e.useQkL2norm ? (*e.useQkL2norm ? 1 : 0) : -1;
    info->num_launches = e.launches.size();
    info->num_scratch = e.scratch.size();
  });
}

dj_status_t dj_package_entry_config(const dj_package_t *pkg, size_t index,
                                    const char **config) {
  return guard([&] {
    requireArg(pkg, "pkg");
    requireArg(config, "config");
    const Manifest &m = pkg->impl->manifest();
    if (index >= m.entries.size())
      fail(DJ_ERROR_INVALID_ARGUMENT, "entry index ", index,
           " is out of range: the package has ", m.entries.size(), " entries");
    const EntrySpec &e = m.entries[index];
    *config = e.config ? e.config->c_str() : nullptr;
  });
}

dj_status_t dj_package_pin_config(dj_package_t *pkg, const char *config) {
  return guard([&] {
    requireArg(pkg, "pkg");
    Package &p = *pkg->impl;
    std::string wanted = config ? config : "";
    if (!wanted.empty()) {
      bool known = false;
      for (const EntrySpec &e : p.manifest().entries)
        known = known || (e.config && *e.config == wanted);
      if (!known)
        fail(DJ_ERROR_NOT_FOUND, "no entry of package '", p.dir(),
             "' has config '", wanted, "'");
    }
    std::lock_guard<std::mutex> lock(p.context().mutex());
    p.chooser().pin(wanted);
  });
}

dj_status_t dj_package_launch(dj_context_t *ctx, dj_package_t *pkg,
                              size_t entry_index, const dj_symbol_t *symbols,
                              size_t num_symbols, void *stream) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    if (num_symbols > 0)
      requireArg(symbols, "symbols");
    const Manifest &m = p.manifest();
    if (entry_index >= m.entries.size())
      fail(DJ_ERROR_INVALID_ARGUMENT, "entry_index ", entry_index,
           " is out of range: the package has ", m.entries.size(), " entries");
    SymbolTable table;
    for (size_t i = 0; i < num_symbols; ++i) {
      const dj_symbol_t &s = symbols[i];
      if (!s.name || !*s.name)
        fail(DJ_ERROR_INVALID_ARGUMENT, "symbols[", i, "].name is empty");
      SymbolValue v;
      switch (rawEnum(s.kind)) {
      case DJ_SYMBOL_PTR:
        v = SymbolValue::pointer(s.ptr);
        break;
      case DJ_SYMBOL_INT:
        v = SymbolValue::integer(s.i64);
        break;
      case DJ_SYMBOL_FLOAT:
        v = SymbolValue::real(s.f64);
        break;
      default:
        fail(DJ_ERROR_INVALID_ARGUMENT, "symbols[", i, "] ('", s.name,
             "'): unknown kind ", rawEnum(s.kind));
      }
      if (!table.emplace(s.name, v).second)
        fail(DJ_ERROR_INVALID_ARGUMENT, "symbols[", i, "]: '", s.name,
             "' is bound twice");
    }
    ContextScope scope(p.context());
    launchEntry(p.context(), p, entry_index, std::move(table),
                streamOf(stream));
  });
}

dj_status_t dj_delta_rule_forward(dj_context_t *ctx, dj_package_t *pkg,
                                  const dj_delta_rule_forward_args_t *args,
                                  void *stream) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    requireArg(args, "args");
    validateForwardArgs(*args);
    ContextScope scope(p.context());
    deltaRuleForward(p.context(), p, *args, streamOf(stream));
  });
}

dj_status_t dj_delta_rule_decode(dj_context_t *ctx, dj_package_t *pkg,
                                 const dj_delta_rule_decode_args_t *args,
                                 void *stream) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    requireArg(args, "args");
    validateDecodeArgs(*args);
    ContextScope scope(p.context());
    deltaRuleDecode(p.context(), p, *args, streamOf(stream));
  });
}

static_assert(int(ChoiceSource::Only) == DJ_CHOICE_ONLY &&
                  int(ChoiceSource::Default) == DJ_CHOICE_DEFAULT &&
                  int(ChoiceSource::TuningDb) == DJ_CHOICE_TUNING_DB &&
                  int(ChoiceSource::PackageTable) == DJ_CHOICE_PACKAGE_TABLE &&
                  int(ChoiceSource::Pinned) == DJ_CHOICE_PINNED &&
                  int(ChoiceSource::Rule) == DJ_CHOICE_RULE,
              "ChoiceSource mirrors dj_entry_choice_t");

dj_status_t
dj_delta_rule_forward_entry(dj_context_t *ctx, dj_package_t *pkg,
                            const dj_delta_rule_forward_args_t *args,
                            size_t *entry_index, dj_entry_choice_t *how) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    requireArg(args, "args");
    requireArg(entry_index, "entry_index");
    validateForwardArgs(*args);
    std::lock_guard<std::mutex> lock(p.context().mutex());
    EntryChoice c = chooseForwardEntry(p.context(), p, *args);
    *entry_index = c.index;
    if (how)
      *how = static_cast<dj_entry_choice_t>(c.source);
  });
}

dj_status_t
dj_delta_rule_forward_segment_chunks(dj_context_t *ctx, dj_package_t *pkg,
                                     const dj_delta_rule_forward_args_t *args,
                                     size_t entry_index, int64_t *chunks) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    requireArg(args, "args");
    requireArg(chunks, "chunks");
    validateForwardArgs(*args);
    const auto &entries = p.manifest().entries;
    if (entry_index >= entries.size() ||
        entries[entry_index].op != "delta_rule_forward")
      fail(DJ_ERROR_INVALID_ARGUMENT, "entry_index ", entry_index,
           " is not a delta_rule_forward entry of the package (",
           entries.size(), " entries)");
    ContextScope scope(p.context());
    *chunks = forwardSegmentChunks(p.context(), p, entry_index, *args);
  });
}

dj_status_t dj_delta_rule_decode_entry(dj_context_t *ctx, dj_package_t *pkg,
                                       const dj_delta_rule_decode_args_t *args,
                                       size_t *entry_index,
                                       dj_entry_choice_t *how) {
  return guard([&] {
    Package &p = packageOf(ctx, pkg);
    requireArg(args, "args");
    requireArg(entry_index, "entry_index");
    validateDecodeArgs(*args);
    std::lock_guard<std::mutex> lock(p.context().mutex());
    EntryChoice c = chooseDecodeEntry(p.context(), p, *args);
    *entry_index = c.index;
    if (how)
      *how = static_cast<dj_entry_choice_t>(c.source);
  });
}

dj_status_t dj_malloc(dj_context_t *ctx, size_t bytes, void **out) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(out, "out");
    if (bytes == 0)
      fail(DJ_ERROR_INVALID_ARGUMENT, "bytes is 0");
    ContextScope scope(c);
    CUdeviceptr p = 0;
    c.driver().check(c.driver().cuMemAlloc_v2(&p, bytes),
                     concat("cuMemAlloc(", bytes, " bytes)"));
    *out = reinterpret_cast<void *>(static_cast<uintptr_t>(p));
  });
}

dj_status_t dj_free(dj_context_t *ctx, void *ptr) {
  return guard([&] {
    Context &c = contextOf(ctx);
    if (!ptr)
      return;
    ContextScope scope(c);
    c.driver().check(c.driver().cuMemFree_v2(devicePtr(ptr)), "cuMemFree");
  });
}

dj_status_t dj_memcpy_htod(dj_context_t *ctx, void *dst, const void *src,
                           size_t bytes) {
  return guard([&] {
    Context &c = contextOf(ctx);
    if (bytes == 0)
      return;
    requireArg(dst, "dst");
    requireArg(src, "src");
    ContextScope scope(c);
    c.driver().check(c.driver().cuMemcpyHtoD_v2(devicePtr(dst), src, bytes),
                     concat("cuMemcpyHtoD(", bytes, " bytes)"));
  });
}

dj_status_t dj_memcpy_dtoh(dj_context_t *ctx, void *dst, const void *src,
                           size_t bytes) {
  return guard([&] {
    Context &c = contextOf(ctx);
    if (bytes == 0)
      return;
    requireArg(dst, "dst");
    requireArg(src, "src");
    ContextScope scope(c);
    c.driver().check(c.driver().cuMemcpyDtoH_v2(dst, devicePtr(src), bytes),
                     concat("cuMemcpyDtoH(", bytes, " bytes)"));
  });
}

dj_status_t dj_synchronize(dj_context_t *ctx) {
  return guard([&] {
    Context &c = contextOf(ctx);
    ContextScope scope(c);
    c.driver().check(c.driver().cuCtxSynchronize(), "cuCtxSynchronize");
  });
}

dj_status_t dj_stream_synchronize(dj_context_t *ctx, void *stream) {
  return guard([&] {
    Context &c = contextOf(ctx);
    ContextScope scope(c);
    c.driver().check(c.driver().cuStreamSynchronize(streamOf(stream)),
                     "cuStreamSynchronize");
  });
}

dj_status_t dj_event_create(dj_context_t *ctx, dj_event_t **out) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(out, "out");
    *out = nullptr;
    ContextScope scope(c);
    CUevent event = nullptr;
    c.driver().check(c.driver().cuEventCreate(&event, CU_EVENT_DEFAULT),
                     "cuEventCreate");
    *out = reinterpret_cast<dj_event_t *>(event);
  });
}

dj_status_t dj_event_destroy(dj_context_t *ctx, dj_event_t *event) {
  return guard([&] {
    Context &c = contextOf(ctx);
    if (!event)
      return;
    ContextScope scope(c);
    c.driver().check(
        c.driver().cuEventDestroy_v2(reinterpret_cast<CUevent>(event)),
        "cuEventDestroy");
  });
}

dj_status_t dj_event_record(dj_context_t *ctx, dj_event_t *event,
                            void *stream) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(event, "event");
    ContextScope scope(c);
    c.driver().check(c.driver().cuEventRecord(reinterpret_cast<CUevent>(event),
                                              streamOf(stream)),
                     "cuEventRecord");
  });
}

dj_status_t dj_event_elapsed_ms(dj_context_t *ctx, dj_event_t *start,
                                dj_event_t *end, float *ms) {
  return guard([&] {
    Context &c = contextOf(ctx);
    requireArg(start, "start");
    requireArg(end, "end");
    requireArg(ms, "ms");
    ContextScope scope(c);
    c.driver().check(
        c.driver().cuEventSynchronize(reinterpret_cast<CUevent>(end)),
        "cuEventSynchronize");
    c.driver().check(
        c.driver().cuEventElapsedTime_v2(ms, reinterpret_cast<CUevent>(start),
                                         reinterpret_cast<CUevent>(end)),
        "cuEventElapsedTime");
  });
}

} // extern "C"
