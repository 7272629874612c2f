/* deltajit.h - C API of the deltajit runtime (packages, contexts, launches,
 * models). */
/*
 * The deltajit runtime loads *packages* written by the deltajit compiler
 * (`deltac --emit=package`, see docs/package-format.md), JIT-compiles their
 * PTX for the current GPU through the CUDA driver (caching the result on
 * disk), and launches their kernels.
 *
 * Conventions of this API
 * -----------------------
 * - Every function whose name starts with `dj_` and that can fail returns a
 *   dj_status_t. DJ_OK (0) is success. On failure a human-readable message is
 *   recorded for the calling thread and can be read with
 *   dj_last_error_message(). No function aborts the process or lets a C++
 *   exception escape.
 * - Handles (dj_context_t, dj_package_t) are opaque. Objects are created by
 *   `*_create` / `*_load` functions, which write the new handle to an out
 *   parameter (left unchanged on failure), and released with the matching
 *   `*_destroy` function, which accepts NULL.
 * - The CUDA driver is not linked: libcuda.so.1 is loaded with dlopen() when
 *   the first context is created (the environment variable
 *   DELTAJIT_CUDA_DRIVER overrides the library path). A program using this
 *   runtime therefore starts on machines without a GPU and gets
 *   DJ_ERROR_NO_DRIVER / DJ_ERROR_NO_DEVICE from dj_context_create().
 * - Device pointers and CUDA streams cross the API as `void*` (a CUdeviceptr
 *   cast to a pointer, and a CUstream; NULL is the legacy default stream).
 *
 * Thread safety
 * -------------
 * All functions may be called from any thread. Calls that use the same
 * context (including calls on packages loaded in it) are serialized by a lock
 * inside the context, so a context and its packages may be shared between
 * threads. Each call makes the context's device (its CUDA primary context)
 * current for the duration of the call and restores the caller's current
 * CUDA context before returning. Destroying an object while another thread
 * is using it is undefined behaviour.
 *
 * Work submitted to a stream is asynchronous: dj_delta_rule_forward() and
 * friends return once the kernels are queued. The runtime keeps per-stream
 * device scratch (sequence tables, the scratch buffers of manifest entries)
 * inside the context, so calls on different streams may run concurrently,
 * and calls on one stream are ordered by the stream itself. The sequence
 * tables are copied to the device only when they differ from the previous
 * forward call's on that stream. Because later calls reuse that scratch
 * and those tables, dj_delta_rule_forward() must not be captured into a
 * CUDA graph by the caller (decode steps use neither; the model API
 * captures its own, see dj_session_options_t). On sm_90 the forward's
 * kernels are launched with programmatic stream serialization
 * ($DELTAJIT_PROGRAMMATIC_LAUNCH=0 turns it off); each waits in-kernel for
 * the work before it on the stream, so stream order holds as usual.
 *
 * The header is C99 and C++ compatible.
 */
#ifndef DELTAJIT_DELTAJIT_H
#define DELTAJIT_DELTAJIT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define DJ_API
#elif defined(__GNUC__)
#define DJ_API __attribute__((visibility("default")))
#else
#define DJ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===*/
/* Status codes and errors                                                    */
/*===----------------------------------------------------------------------===*/

/** Result of every fallible dj_ function. */
typedef enum dj_status_t {
  DJ_OK = 0,
  /** An argument is NULL, out of range or inconsistent; the message names
   *  the argument. */
  DJ_ERROR_INVALID_ARGUMENT = 1,
  /** The CUDA driver library could not be loaded or is only the stub
   *  library (no real driver installed). */
  DJ_ERROR_NO_DRIVER = 2,
  /** The driver works but there is no (such) CUDA device. */
  DJ_ERROR_NO_DEVICE = 3,
  /** A CUDA driver call failed; the message names the call and the CUresult
   *  (name and description). */
  DJ_ERROR_DRIVER = 4,
  /** A package is malformed, corrupt, or incompatible with this runtime or
   *  device; the message names the file and the manifest field. */
  DJ_ERROR_PACKAGE = 5,
  /** No manifest entry matches a request; the message lists what was asked
   *  for and the entries that exist. */
  DJ_ERROR_NOT_FOUND = 6,
  /** Host or device memory is exhausted. */
  DJ_ERROR_OUT_OF_MEMORY = 7,
  /** A bug in the runtime. */
  DJ_ERROR_INTERNAL = 8
} dj_status_t;

/** Static name of a status code ("DJ_OK", "DJ_ERROR_PACKAGE", ...); never
 *  NULL ("DJ_ERROR_UNKNOWN" for values outside the enum). */
DJ_API const char *dj_status_string(dj_status_t status);

/** Message describing the most recent dj_ call made by the calling thread:
 *  the empty string after a call that succeeded. Never NULL. The string is
 *  owned by the runtime and is valid until the calling thread's next dj_
 *  call (dj_status_string and dj_last_error_message excepted). */
DJ_API const char *dj_last_error_message(void);

/** Version of the runtime library, e.g. "deltajit-runtime 0.1.0". Static. */
DJ_API const char *dj_runtime_version(void);

/*===----------------------------------------------------------------------===*/
/* Contexts                                                                   */
/*===----------------------------------------------------------------------===*/

/** A GPU (its CUDA primary context), the on-disk kernel cache and per-stream
 *  device scratch. */
typedef struct dj_context_t dj_context_t;

/** Options of dj_context_create(). Initialize with dj_context_options_init()
 *  so that fields added later get their defaults. */
typedef struct dj_context_options_t {
  /** CUDA device ordinal (default 0). */
  int device_ordinal;
  /** Directory of the kernel cache (compiled cubins live in
   *  `<cache_dir>/kernels/`). NULL (default) selects $DELTAJIT_CACHE_DIR,
   *  else $XDG_CACHE_HOME/deltajit, else $HOME/.cache/deltajit. The string is
   *  copied. A directory that cannot be created or written silently
   *  disables caching. */
  const char *cache_dir;
  /** Nonzero: never read or write the kernel cache (default 0). */
  int disable_cache;
} dj_context_options_t;

/** Fills `opts` with the defaults (device 0, default cache dir, cache on). */
DJ_API void dj_context_options_init(dj_context_options_t *opts);

/** Creates a context on a device. `opts` may be NULL (defaults).
 *
 *  Loads the CUDA driver on first use (libcuda.so.1, or the path in
 *  $DELTAJIT_CUDA_DRIVER), initializes it and retains the device's primary
 *  context. Errors: DJ_ERROR_NO_DRIVER (library missing, or the stub
 *  library), DJ_ERROR_NO_DEVICE (no CUDA device, or the ordinal is out of
 *  range), DJ_ERROR_DRIVER. On success `*out` receives a context that the
 *  caller destroys with dj_context_destroy(). */
DJ_API dj_status_t dj_context_create(const dj_context_options_t *opts,
                                     dj_context_t **out);

/** Releases the caller's reference to a context. Packages loaded in it keep
 *  the device resources alive: those are released (after waiting for the
 *  device's work to finish) when the context handle and every package
 *  loaded in it have been destroyed. A package whose context handle is gone
 *  can still be queried and destroyed, but not launched (the launch
 *  functions take the context). NULL is accepted. */
DJ_API void dj_context_destroy(dj_context_t *ctx);

/** Facts about the device of a context, for tools and logs. */
typedef struct dj_device_info_t {
  char name[256];               /**< e.g. "NVIDIA H200" (NUL-terminated). */
  int device_ordinal;           /**< The ordinal the context was made with. */
  int compute_capability_major; /**< e.g. 9 */
  int compute_capability_minor; /**< e.g. 0 */
  int sm_count;                 /**< Number of streaming multiprocessors. */
  int driver_version;           /**< cuDriverGetVersion(), e.g. 13000. */
  size_t total_memory;          /**< Bytes of device memory. */
  size_t max_shared_memory_per_block_optin; /**< Dynamic shared memory max. */
} dj_device_info_t;

/** Writes the device facts of `ctx` to `*info`. */
DJ_API dj_status_t dj_context_device_info(dj_context_t *ctx,
                                          dj_device_info_t *info);

/** Writes the kernel-cache directory in use to `*dir` (the directory that
 *  holds `kernels/`), or NULL when caching is disabled (by option, or
 *  because the directory could not be created or written). The string is
 *  owned by the context. */
DJ_API dj_status_t dj_context_cache_dir(dj_context_t *ctx, const char **dir);

/** Waits for all work of the context's device, then frees the per-stream
 *  device scratch the runtime keeps (it is re-allocated on the next call). */
DJ_API dj_status_t dj_context_trim(dj_context_t *ctx);

/*===----------------------------------------------------------------------===*/
/* Packages                                                                   */
/*===----------------------------------------------------------------------===*/

/** A loaded package: its manifest and its kernels, JIT-compiled for the
 *  device of the context it was loaded in. */
typedef struct dj_package_t dj_package_t;

/** Validates the package in directory `dir` without a GPU: parses
 *  manifest.json (format, version, the type of every field, formulas and
 *  their symbols, kernel and parameter references) and verifies the sha256
 *  of every module file. Returns DJ_ERROR_PACKAGE with a message naming the
 *  file and field on the first problem. Device compatibility is not
 *  checked. */
DJ_API dj_status_t dj_package_check(const char *dir);

/** Loads the package in directory `dir` into `ctx`: everything
 *  dj_package_check() does, then checks that the package's target can run on
 *  the device (an "sm_90a" package needs exactly compute capability 9.0; a
 *  plain "sm_80" one runs on 8.0 and newer), JIT-compiles each PTX module
 *  for the device (or takes the cubin from the disk cache; a corrupt cache
 *  file is deleted and rebuilt, never fatal), and resolves every kernel.
 *  Errors: DJ_ERROR_PACKAGE (bad manifest, checksum mismatch, incompatible
 *  target, PTX rejected by the JIT: the JIT log is in the message, kernel
 *  missing from its module), DJ_ERROR_DRIVER, DJ_ERROR_OUT_OF_MEMORY. On
 *  success `*out` receives a package, destroyed with dj_package_destroy(). */
DJ_API dj_status_t dj_package_load(dj_context_t *ctx, const char *dir,
                                   dj_package_t **out);

/** Unloads a package's modules. Work already queued that uses its kernels
 *  must have finished (synchronize first). NULL is accepted. */
DJ_API void dj_package_destroy(dj_package_t *pkg);

/** Summary of a loaded package. Strings are owned by the package. */
typedef struct dj_package_info_t {
  const char *producer; /**< manifest "producer" ("" when absent). */
  const char *arch;     /**< manifest target.arch, e.g. "sm_90a". */
  int sm;               /**< manifest target.sm, e.g. 90. */
  size_t num_modules;
  size_t num_entries;
  size_t modules_from_cache;    /**< Modules whose cubin came from the cache. */
  size_t modules_compiled;      /**< Modules JIT-compiled by this load. */
  size_t cache_entries_rebuilt; /**< Corrupt cache files deleted and rebuilt. */
} dj_package_info_t;

DJ_API dj_status_t dj_package_get_info(const dj_package_t *pkg,
                                       dj_package_info_t *info);

/** The lookup keys of one manifest entry. Strings are owned by the package;
 *  absent keys read as NULL / -1. */
typedef struct dj_entry_info_t {
  const char *op;    /**< e.g. "delta_rule_forward". */
  const char *dtype; /**< e.g. "bf16", or NULL. */
  int64_t dk, dv;    /**< or -1. */
  int64_t chunk;     /**< or -1 (decode entries have none). */
  int use_qk_l2norm; /**< 0, 1, or -1 when absent. */
  size_t num_launches;
  size_t num_scratch;
} dj_entry_info_t;

/** Describes entry `index` (0 <= index < num_entries) of a package. */
DJ_API dj_status_t dj_package_entry_info(const dj_package_t *pkg, size_t index,
                                         dj_entry_info_t *info);

/** The compile configuration of entry `index` (manifest "config", e.g.
 *  "bv64_w8_fused"; docs/tuning.md), or NULL when the entry names none. The
 *  string is owned by the package. */
DJ_API dj_status_t dj_package_entry_config(const dj_package_t *pkg,
                                           size_t index, const char **config);

/** Tuned packages (`deltac --tune-space`) hold several entries with the same
 *  keys and different configs. By default a call runs the one the tuning
 *  database names for this GPU and shape bucket ($DELTAJIT_TUNING_DB, else
 *  `<cache_dir>/tuning/tuning-db.json`; written by delta-tune), else the one
 *  the package's own tuning table names, else the first (default) entry;
 *  $DELTAJIT_TUNING=off skips the database and the table. A missing or
 *  corrupt database is never an error.
 *
 *  dj_package_pin_config() overrides that for this package: calls with
 *  several candidates run the entry with config `config` (and fail with
 *  DJ_ERROR_NOT_FOUND when they have none); calls with one candidate run it.
 *  NULL or "" removes the pin. DJ_ERROR_NOT_FOUND when no entry of the
 *  package has that config. For tuning tools and experiments. */
DJ_API dj_status_t dj_package_pin_config(dj_package_t *pkg, const char *config);

/** How the entry of a call was chosen. */
typedef enum dj_entry_choice_t {
  DJ_CHOICE_ONLY = 0,          /**< one candidate config */
  DJ_CHOICE_DEFAULT = 1,       /**< the first entry: nothing tuned applies */
  DJ_CHOICE_TUNING_DB = 2,     /**< the tuning database */
  DJ_CHOICE_PACKAGE_TABLE = 3, /**< the package's tuning table */
  DJ_CHOICE_PINNED = 4,        /**< dj_package_pin_config() */
  DJ_CHOICE_RULE = 5           /**< nothing tuned applies; a long forward call
                                    (>= 1024 tokens per sequence) at head size >= 128,
                                    or whose fused kernel would leave SMs idle, takes
                                    a three-phase entry (docs/tuning.md, "the
                                    long-sequence rule") */
} dj_entry_choice_t;

/** Checks a safetensors checkpoint against the weights of the model a
 *  package was compiled from (manifest "weights"), reading only the
 *  checkpoint's header; no GPU needed. Names follow the reference library's
 *  checkpoints: "model.<weight>.weight" and "lm_head.weight". Every weight
 *  must be present with its shape (a [D, K] short-convolution weight also
 *  matches the checkpoint's [D, 1, K]) in bf16, f16 or f32; tensors the
 *  model does not use are errors too. DJ_ERROR_INVALID_ARGUMENT lists the
 *  problems (up to 10, each naming the tensor); DJ_ERROR_PACKAGE when the
 *  package lists no weights or cannot be read. */
DJ_API dj_status_t dj_weights_check(const char *package_dir,
                                    const char *safetensors_path);

/*===----------------------------------------------------------------------===*/
/* Generic launches (tools and tests)                                         */
/*===----------------------------------------------------------------------===*/

typedef enum dj_symbol_kind_t {
  DJ_SYMBOL_PTR = 1,  /**< A device pointer: field `ptr`. */
  DJ_SYMBOL_INT = 2,  /**< An integer: field `i64` (usable in formulas). */
  DJ_SYMBOL_FLOAT = 3 /**< A float: field `f64` (passed as f32). */
} dj_symbol_kind_t;

/** One named value bound for a launch. */
typedef struct dj_symbol_t {
  const char *name;
  dj_symbol_kind_t kind;
  void *ptr;
  int64_t i64;
  double f64;
} dj_symbol_t;

/** Runs the launches of manifest entry `entry_index` in order on `stream`
 *  with the given symbols: grid and scratch-size formulas are evaluated over
 *  the DJ_SYMBOL_INT symbols, scratch buffers are allocated by the runtime
 *  and bound by name, and each kernel parameter is bound by name (`ptr`
 *  params to DJ_SYMBOL_PTR, `i32`/`i64` to DJ_SYMBOL_INT, `f32` to
 *  DJ_SYMBOL_FLOAT). A launch whose grid has a zero dimension is skipped.
 *  All formulas are evaluated and all params bound before the first launch,
 *  so an error (DJ_ERROR_INVALID_ARGUMENT: unbound name, wrong kind, value
 *  out of range, formula overflow or division by zero) queues nothing.
 *  Low-level: the op-specific functions below bind the symbols of the
 *  package format themselves. */
DJ_API dj_status_t dj_package_launch(dj_context_t *ctx, dj_package_t *pkg,
                                     size_t entry_index,
                                     const dj_symbol_t *symbols,
                                     size_t num_symbols, void *stream);

/*===----------------------------------------------------------------------===*/
/* Delta-rule operations                                                      */
/*===----------------------------------------------------------------------===*/

/** Element type of q, k, v, beta and o (states are always f32). Zero is not
 *  a valid value, so a zero-initialized args struct is rejected. */
typedef enum dj_dtype_t {
  DJ_DTYPE_BF16 = 1, /**< matches manifest dtype "bf16" */
  DJ_DTYPE_FP16 = 2  /**< matches manifest dtype "fp16" (or "f16") */
} dj_dtype_t;

/** Arguments of dj_delta_rule_forward() (chunked prefill).
 *
 *  Layouts (row-major, contiguous): q, k `[B, T, H, DK]`; v, o
 *  `[B, T, HV, DV]`; beta `[B, T, HV]`; h0, ht `[N, HV, DK, DV]` float32,
 *  where N is the number of sequences (B, or num_seqs with cu_seqlens). */
typedef struct dj_delta_rule_forward_args_t {
  dj_dtype_t dtype;
  int64_t B, T, H, HV, DK, DV;  /**< B >= 1, T >= 0, others >= 1, HV % H == 0 */
  const void *q, *k, *v, *beta; /**< device pointers, required */
  void *o;                      /**< device pointer, required */
  const void *h0;               /**< optional initial state (NULL: zeros) */
  void *ht;                     /**< optional final state (NULL: not written) */
  /** Optional variable-length batch: HOST array of num_seqs + 1 token
   *  offsets, starting at 0, non-decreasing, ending at T; requires B == 1.
   *  NULL: B sequences of T tokens each (then num_seqs must be 0). The
   *  runtime builds and uploads the device tables itself. */
  const int64_t *cu_seqlens;
  int64_t num_seqs;
  /** Query scale; NaN selects DK^-1/2. */
  float scale;
  /** Nonzero: L2-normalize q and k inside the kernels. */
  int use_qk_l2norm;
  /** Chunk length of the entry to use; 0 takes the first matching entry. */
  int chunk_size;
} dj_delta_rule_forward_args_t;

/** Queues the delta-rule forward pass on `stream`.
 *
 *  Finds the manifest entry with op "delta_rule_forward" and matching dtype,
 *  dk == DK, dv == DV, use_qk_l2norm (and chunk when chunk_size != 0);
 *  builds cu_seqlens, chunk_offsets, chunk_table and chunk_spans on the
 *  host (each sequence has ceildiv(len, chunk) chunks; empty sequences have
 *  none; more than 2^31 - 1 tokens in all is DJ_ERROR_INVALID_ARGUMENT),
 *  uploads them to per-stream device scratch with asynchronous copies on
 *  `stream`, binds the symbols of docs/package-format.md and runs the
 *  entry's launches.
 *
 *  When there are no chunks at all (T == 0 or all sequences empty) no kernel
 *  is launched; if `ht` is given it is set on `stream` to a copy of `h0`, or
 *  to zeros when `h0` is NULL (o has no rows to write).
 *
 *  All arguments are validated before anything is queued
 *  (DJ_ERROR_INVALID_ARGUMENT names the argument); DJ_ERROR_NOT_FOUND when
 *  the package has no matching entry. `ctx` must be the context `pkg` was
 *  loaded in. */
DJ_API dj_status_t
dj_delta_rule_forward(dj_context_t *ctx, dj_package_t *pkg,
                      const dj_delta_rule_forward_args_t *args, void *stream);

/** Writes the index of the entry dj_delta_rule_forward() would run with
 *  these arguments (validated the same way) to `*entry_index`, and how it
 *  was chosen to `*how` (may be NULL). Queues nothing. */
DJ_API dj_status_t
dj_delta_rule_forward_entry(dj_context_t *ctx, dj_package_t *pkg,
                            const dj_delta_rule_forward_args_t *args,
                            size_t *entry_index, dj_entry_choice_t *how);

/** Writes the segment length, in chunks, at which a dj_delta_rule_forward()
 *  call with these arguments (validated the same way) would run entry
 *  `entry_index` to `*chunks`: for a segment-scan entry (config
 *  "_seg<L>"), L or the longer length the runtime chooses for the GPU and
 *  shape (docs/package-format.md, `segment_chunks`; DELTAJIT_SEGMENT_CHUNKS
 *  pins it); 0 for any other entry. Queues nothing.
 *  DJ_ERROR_INVALID_ARGUMENT when `entry_index` is not a delta_rule_forward
 *  entry of `pkg`. */
DJ_API dj_status_t
dj_delta_rule_forward_segment_chunks(dj_context_t *ctx, dj_package_t *pkg,
                                     const dj_delta_rule_forward_args_t *args,
                                     size_t entry_index, int64_t *chunks);

/** Arguments of dj_delta_rule_decode() (one token per sequence).
 *
 *  Layouts: q, k `[N, H, DK]`; v, o `[N, HV, DV]`; beta `[N, HV]`; states
 *  `[N, HV, DK, DV]` float32. */
typedef struct dj_delta_rule_decode_args_t {
  dj_dtype_t dtype;
  int64_t N, H, HV, DK, DV;     /**< N >= 0 (0: nothing is queued), others >= 1,
                                     HV % H == 0 */
  const void *q, *k, *v, *beta; /**< device pointers, required */
  void *o;                      /**< device pointer, required */
  /** Required; 16-byte aligned (the decode kernels move the state in
   *  16-byte vectors), as is state_out. */
  const void *state_in;
  /** Where the updated state goes; NULL or equal to state_in updates in
   *  place. */
  void *state_out;
  float scale; /**< NaN selects DK^-1/2. */
  int use_qk_l2norm;
} dj_delta_rule_decode_args_t;

/** Queues one decode step on `stream`: the entry with op
 *  "delta_rule_decode" and matching dtype, dk, dv, use_qk_l2norm. Errors as
 *  for dj_delta_rule_forward(). */
DJ_API dj_status_t dj_delta_rule_decode(dj_context_t *ctx, dj_package_t *pkg,
                                        const dj_delta_rule_decode_args_t *args,
                                        void *stream);

/** As dj_delta_rule_forward_entry(), for dj_delta_rule_decode(). */
DJ_API dj_status_t
dj_delta_rule_decode_entry(dj_context_t *ctx, dj_package_t *pkg,
                           const dj_delta_rule_decode_args_t *args,
                           size_t *entry_index, dj_entry_choice_t *how);

/*===----------------------------------------------------------------------===*/
/* Device memory helpers (so C programs and tests need not link CUDA)         */
/*===----------------------------------------------------------------------===*/

/** Allocates `bytes` (> 0) of device memory on the context's device. */
DJ_API dj_status_t dj_malloc(dj_context_t *ctx, size_t bytes, void **out);
/** Frees memory from dj_malloc(); NULL is accepted. */
DJ_API dj_status_t dj_free(dj_context_t *ctx, void *ptr);
/** Synchronous copies (they wait for the legacy default stream). */
DJ_API dj_status_t dj_memcpy_htod(dj_context_t *ctx, void *dst, const void *src,
                                  size_t bytes);
DJ_API dj_status_t dj_memcpy_dtoh(dj_context_t *ctx, void *dst, const void *src,
                                  size_t bytes);
/** Waits for all work on the context's device. */
DJ_API dj_status_t dj_synchronize(dj_context_t *ctx);
/** Waits for all work on `stream` (NULL: the legacy default stream). */
DJ_API dj_status_t dj_stream_synchronize(dj_context_t *ctx, void *stream);

/*===----------------------------------------------------------------------===*/
/* Timing (CUDA events; for benchmarks)                                       */
/*===----------------------------------------------------------------------===*/

/** A CUDA event of the context's device. */
typedef struct dj_event_t dj_event_t;

/** Creates an event (timing enabled). Destroy with dj_event_destroy(). */
DJ_API dj_status_t dj_event_create(dj_context_t *ctx, dj_event_t **out);
/** Destroys an event; NULL is accepted. */
DJ_API dj_status_t dj_event_destroy(dj_context_t *ctx, dj_event_t *event);
/** Records `event` on `stream` (NULL: the legacy default stream). */
DJ_API dj_status_t dj_event_record(dj_context_t *ctx, dj_event_t *event,
                                   void *stream);
/** Waits for `end`, then stores the milliseconds between `start` and `end`
 *  (both recorded) in `*ms`. */
DJ_API dj_status_t dj_event_elapsed_ms(dj_context_t *ctx, dj_event_t *start,
                                       dj_event_t *end, float *ms);

/*===----------------------------------------------------------------------===*/
/* Models: whole model graphs (prefill, decode, sampling)                     */
/*===----------------------------------------------------------------------===*/

/* A *model* is a package compiled from a model spec or a module with a
 * public @forward (`deltac model.json --emit=package -o DIR`): its manifest
 * has a "model" section (docs/package-format.md) listing the graph's steps,
 * carried states and weights. dj_model_load() JIT-compiles its kernels, the
 * non-delta-rule kernels (NVRTC; libnvrtc is loaded with dlopen, override:
 * DELTAJIT_NVRTC) and loads cuBLASLt for the projections (dlopen, override:
 * DELTAJIT_CUBLASLT), then puts the weights on the device.
 *
 * A *session* holds the carried state of up to max_batch sequences ("slots"):
 * the delta-rule states, short-convolution states and attention KV caches
 * (max_context positions each). dj_session_prefill() runs prompts for slots
 * 0..n-1 (each continuing its slot) and makes them the active batch;
 * dj_session_decode() / dj_session_generate() then advance every active
 * slot by one token per step.
 *
 * Ownership: a session must be destroyed before its model, a model before
 * its context. Thread safety: a model may be shared by sessions used from
 * different threads (their calls serialize on the context's lock); one
 * session must not be used from two threads at once. Session calls are
 * synchronous: outputs are in host memory when they return. */

typedef struct dj_model_t dj_model_t;
typedef struct dj_session_t dj_session_t;

typedef struct dj_model_options_t {
  /** A safetensors checkpoint (tensor names as the reference library's:
   *  "model.layers.0.attn.q_proj.weight", "lm_head.weight"; bf16, fp16 or
   *  f32, converted to the model's dtype). NULL: deterministic random
   *  weights from `seed` (RMSNorm weights 1, others uniform with standard
   *  deviation 0.02; see runtime/lib/RandomInit.h). */
  const char *weights;
  uint64_t seed;
} dj_model_options_t;

/** Defaults: random weights, seed 0. */
DJ_API void dj_model_options_init(dj_model_options_t *opts);

/** Loads a model package. Errors: DJ_ERROR_PACKAGE (not a model package, bad
 *  manifest), DJ_ERROR_INVALID_ARGUMENT (a checkpoint that does not fit:
 *  missing, unexpected, mis-shaped tensors, each named), DJ_ERROR_NO_DRIVER
 *  (NVRTC or cuBLASLt missing), DJ_ERROR_NOT_FOUND (no delta-rule kernel for
 *  a layer), DJ_ERROR_OUT_OF_MEMORY, DJ_ERROR_DRIVER. */
DJ_API dj_status_t dj_model_load(dj_context_t *ctx, const char *package_dir,
                                 const dj_model_options_t *opts,
                                 dj_model_t **out);
DJ_API void dj_model_destroy(dj_model_t *model);

typedef struct dj_model_info_t {
  int64_t vocab, hidden;
  size_t num_steps, num_states, num_weights;
  uint64_t weight_bytes;
  const char *dtype;   /**< "bf16" or "fp16"; valid while the model lives */
  double load_seconds; /**< wall time of dj_model_load (JIT, weights) */
} dj_model_info_t;
DJ_API dj_status_t dj_model_get_info(const dj_model_t *model,
                                     dj_model_info_t *info);

typedef struct dj_session_options_t {
  int64_t max_batch;   /**< slots (>= 1); default 1 */
  int64_t max_context; /**< tokens per sequence the KV caches hold; 4096 */
  int use_cuda_graph;  /**< nonzero: generate() replays a captured CUDA graph
                            of the decode step; default 1 */
} dj_session_options_t;
DJ_API void dj_session_options_init(dj_session_options_t *opts);

/** Allocates the states of max_batch slots (zeroed). */
DJ_API dj_status_t dj_session_create(dj_model_t *model,
                                     const dj_session_options_t *opts,
                                     dj_session_t **out);
/** The options the session runs with: those it was created with, except
 *  use_cuda_graph is 0 when $DELTAJIT_PROFILE (per-step GPU timing, which
 *  a captured graph cannot record) is set. */
DJ_API dj_status_t dj_session_get_options(const dj_session_t *session,
                                          dj_session_options_t *out);
DJ_API void dj_session_destroy(dj_session_t *session);

/** Forgets `slot` (all slots and the active batch when slot < 0). */
DJ_API dj_status_t dj_session_reset(dj_session_t *session, int64_t slot);

/** Sampling: temperature <= 0 is greedy (argmax); else a sample of
 *  softmax(logits / temperature) from a counter-based generator seeded by
 *  `seed` (and the session's step count). */
typedef struct dj_sampling_t {
  float temperature;
  uint64_t seed;
} dj_sampling_t;

/** Prefill: `ids` holds num_seqs prompts back to back (int32 token ids),
 *  lengths[i] >= 1 tokens for slot i. Each slot continues from its state
 *  (use dj_session_reset for a fresh start). Outputs (host, optional):
 *  `logits` f32 [num_seqs, vocab] of each prompt's last token, or, with
 *  all_logits, [sum(lengths), vocab] of every token; `next_ids` [num_seqs],
 *  the sampled next tokens (NULL sampling: greedy). */
DJ_API dj_status_t dj_session_prefill(dj_session_t *session, const int32_t *ids,
                                      const int64_t *lengths, int64_t num_seqs,
                                      const dj_sampling_t *sampling,
                                      float *logits, int all_logits,
                                      int32_t *next_ids);

/** One decode step of the active batch (n = the last prefill's num_seqs):
 *  `ids` [n] or NULL to feed the tokens sampled last. Outputs (optional):
 *  `logits` f32 [n, vocab], `next_ids` [n]. */
DJ_API dj_status_t dj_session_decode(dj_session_t *session, const int32_t *ids,
                                     const dj_sampling_t *sampling,
                                     float *logits, int32_t *next_ids);

/** `steps` decode steps, each feeding back the sampled tokens; out_ids
 *  (optional) receives [steps, n] token ids. */
DJ_API dj_status_t dj_session_generate(dj_session_t *session, int64_t steps,
                                       const dj_sampling_t *sampling,
                                       int32_t *out_ids);

/** Tokens seen by `slot`. */
DJ_API dj_status_t dj_session_length(const dj_session_t *session, int64_t slot,
                                     int64_t *length);

typedef struct dj_state_info_t {
  const char *name; /**< "delta.0", "conv.3", "kv.1", ... */
  const char *kind; /**< "delta" (f32 [HV, dk, dv]), "conv" (f32
                         [channels, kernel - 1]), "kv" (k cache [HKV,
                         max_context, d] then v cache [HKV, max_context,
                         dv], model dtype) */
  uint64_t bytes_per_sequence;
} dj_state_info_t;
DJ_API dj_status_t dj_session_num_states(const dj_session_t *session,
                                         size_t *count);
DJ_API dj_status_t dj_session_state_info(const dj_session_t *session,
                                         size_t index, dj_state_info_t *info);
/** Copies one slot's state to / from host memory (`bytes` must equal
 *  bytes_per_sequence). Writing a KV state does not change the slot's
 *  length: set it with dj_session_set_length. */
DJ_API dj_status_t dj_session_read_state(dj_session_t *session, size_t index,
                                         int64_t slot, void *host,
                                         size_t bytes);
DJ_API dj_status_t dj_session_write_state(dj_session_t *session, size_t index,
                                          int64_t slot, const void *host,
                                          size_t bytes);
DJ_API dj_status_t dj_session_set_length(dj_session_t *session, int64_t slot,
                                         int64_t length);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DELTAJIT_DELTAJIT_H */
