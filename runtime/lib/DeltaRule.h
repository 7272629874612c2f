//===- DeltaRule.h - delta_rule_forward / delta_rule_decode host side -----===//
//
// Argument validation, host-built sequence tables, entry lookup and symbol
// binding for the two delta-rule ops of docs/package-format.md. Everything
// up to the upload is plain host code (unit-tested without a GPU).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_DELTARULE_H
#define DELTAJIT_RUNTIME_DELTARULE_H

#include "Launcher.h"
#include "Manifest.h"
#include "TuningDB.h"

#include "deltajit/deltajit.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deltajit {

class Context;
class Package;

/// Throws Error(DJ_ERROR_INVALID_ARGUMENT) naming the first bad argument.
void validateForwardArgs(const dj_delta_rule_forward_args_t &args);
void validateDecodeArgs(const dj_delta_rule_decode_args_t &args);

/// The manifest dtype names a dj_dtype_t matches ("bf16"; "fp16", "f16").
std::vector<std::string> dtypeNames(dj_dtype_t dtype);

/// What an op call asks of the manifest.
struct EntryRequest {
  std::string op;
  dj_dtype_t dtype = DJ_DTYPE_BF16;
  int64_t dk = 0, dv = 0;
  std::optional<int64_t> chunk; ///< Unset: any chunk (first match).
  bool useQkL2norm = false;
  std::string describe() const;
  /// The request as a memo key (cheaper to build than describe()).
  std::string memoKey() const;
};

/// Index of the first matching entry; throws Error(DJ_ERROR_NOT_FOUND)
/// listing the request and the package's entries.
size_t findEntry(const Manifest &m, const EntryRequest &request,
                 const std::string &packageDir);

/// Indices of every matching entry, in manifest order (the candidates of a
/// tuned package); throws like findEntry when there is none.
std::vector<size_t> findEntries(const Manifest &m, const EntryRequest &request,
                                const std::string &packageDir);

/// The entry a validated forward / decode call runs: among the matching
/// entries, the package's EntryChooser picks (tuning database, the
/// manifest's tuning table, a pinned config; else the first match).
EntryChoice chooseForwardEntry(Context &ctx, const Package &pkg,
                               const dj_delta_rule_forward_args_t &args);
EntryChoice chooseDecodeEntry(Context &ctx, const Package &pkg,
                              const dj_delta_rule_decode_args_t &args);

/// Host-side sequence tables of a forward call (docs: cu_seqlens,
/// chunk_offsets, chunk_table, chunk_spans).
struct ForwardTables {
  int64_t numSeqs = 0;
  int64_t totalChunks = 0, maxChunks = 0;
  std::vector<int64_t> cuSeqlens;    ///< [N + 1]
  std::vector<int32_t> chunkOffsets; ///< [N + 1]
  std::vector<int32_t> chunkTable;   ///< [total_chunks * 2]
  std::vector<int32_t> chunkSpans;   ///< [total_chunks * 2]
};

/// Builds the tables for validated `args` and chunk length `chunk`.
ForwardTables buildForwardTables(const dj_delta_rule_forward_args_t &args,
                                 int64_t chunk);

/// The scalar and pointer symbols of a forward call (the four table
/// pointers are bound to the given device addresses; deltaRuleForward
/// passes 0 for a table none of the entry's kernels takes).
SymbolTable forwardSymbols(const dj_delta_rule_forward_args_t &args,
                           const ForwardTables &tables, CUdeviceptr cuSeqlens,
                           CUdeviceptr chunkOffsets, CUdeviceptr chunkTable,
                           CUdeviceptr chunkSpans);
SymbolTable decodeSymbols(const dj_delta_rule_decode_args_t &args);

/// The segment scan's segment length in chunks for a call (bound as
/// `segment_chunks`): the entry's compiled length `shortest` (even), or
/// the shortest even length up to max(shortest + 2, 5/4 shortest) whose
/// transitions, (ceildiv(maxChunks, L) - 1) * programsPerSegment programs,
/// fit in one wave of `residentPrograms` (programs per SM x SMs), when
/// the compiled length's do not. Longer segments lengthen every segment's
/// sequential steps, so the search stops at a quarter more. Where none of
/// those fits, twice the compiled length if the sequences still hold 8
/// such segments (fewer waves and combine steps), else the compiled one.
int64_t segmentChunksFor(int64_t shortest, int64_t maxChunks,
                         int64_t programsPerSegment, int64_t residentPrograms);

/// $DELTAJIT_SEGMENT_CHUNKS: a segment length every segment-scan call runs
/// instead of segmentChunksFor's (experiments; packages whose kernels take
/// the length). Unset or empty: nullopt. Throws Error
/// (DJ_ERROR_INVALID_ARGUMENT) unless it is an even integer >= 2.
std::optional<int64_t> segmentChunksOverride();

/// The segment length (chunks) a forward call with `args` (validated)
/// runs entry `entryIndex` at: chooseSegmentChunks's for a segment-scan
/// entry, 0 for any other. The caller holds a ContextScope.
int64_t forwardSegmentChunks(Context &ctx, const Package &pkg,
                             size_t entryIndex,
                             const dj_delta_rule_forward_args_t &args);

/// The caller holds a ContextScope.
void deltaRuleForward(Context &ctx, const Package &pkg,
                      const dj_delta_rule_forward_args_t &args,
                      CUstream stream);
void deltaRuleDecode(Context &ctx, const Package &pkg,
                     const dj_delta_rule_decode_args_t &args, CUstream stream);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_DELTARULE_H
