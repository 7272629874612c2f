//===- Launcher.cpp - formula evaluation, param packing, cuLaunchKernel ---===//

#include "Launcher.h"

#include "Context.h"
#include "Error.h"
#include "Package.h"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace deltajit {

namespace {

Formula::Lookup integerLookup(const SymbolTable &symbols) {
  return [&symbols](const std::string &name) -> int64_t {
    auto it = symbols.find(name);
    if (it == symbols.end())
      throw FormulaError("symbol '" + name + "' is not bound");
    if (it->second.kind != SymbolKind::Int)
      throw FormulaError("symbol '" + name + "' is " +
                         symbolKindArticle(it->second.kind) +
                         ", not an integer");
    return it->second.i;
  };
}

/// `path()` names the manifest field in errors; it is only called on one
/// (the launch path builds no strings when all goes well).
template <typename PathFn>
int64_t evaluate(const Formula &f, const SymbolTable &symbols,
                 const std::string &op, PathFn path) {
  try {
    return f.evaluate(integerLookup(symbols));
  } catch (const FormulaError &e) {
    fail(DJ_ERROR_INVALID_ARGUMENT, op, ": ", path(), ": ", e.what());
  }
}

} // namespace

int64_t evaluateScratchBytes(const EntrySpec &entry, size_t index,
                             const SymbolTable &symbols) {
  auto path = [&] {
    return entry.path + ".scratch[" + std::to_string(index) + "].bytes";
  };
  int64_t bytes = evaluate(entry.scratch[index].bytes, symbols, entry.op, path);
  if (bytes < 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": ", path(),
         ": scratch buffer '", entry.scratch[index].name, "' size '",
         entry.scratch[index].bytes.text(), "' evaluates to ", bytes);
  return bytes;
}

int64_t evaluateGrid(const EntrySpec &entry, size_t launch, int dim,
                     const SymbolTable &symbols) {
  const LaunchSpec &l = entry.launches.at(launch);
  return evaluate(l.grid[dim], symbols, entry.op, [&] {
    return l.path + ".grid[" + std::to_string(dim) + "]";
  });
}

std::vector<PreparedLaunch>
prepareLaunches(const EntrySpec &entry, const SymbolTable &symbols,
                const std::vector<CUfunction> &functions) {
  std::vector<PreparedLaunch> out;
  out.reserve(entry.launches.size());
  for (size_t li = 0; li < entry.launches.size(); ++li) {
    const LaunchSpec &l = entry.launches[li];
    PreparedLaunch p;
    p.function = li < functions.size() ? functions[li] : nullptr;
    p.kernel = l.kernel;
    for (int d = 0; d < 3; ++d) {
      auto path = [&] { return l.path + ".grid[" + std::to_string(d) + "]"; };
      int64_t g = evaluate(l.grid[d], symbols, entry.op, path);
      int64_t limit = d == 0 ? std::numeric_limits<int32_t>::max() : 65535;
      if (g < 0 || g > limit)
        fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": ", path(), ": '",
             l.grid[d].text(), "' evaluates to ", g,
             ", outside the grid range [0, ", limit, "]");
      if (g == 0)
        p.skip = true;
      p.grid[d] = static_cast<unsigned>(g);
      p.block[d] = l.block[d];
    }
    p.sharedBytes = l.sharedBytes;
    p.programmaticWait = l.programmaticWait;
    p.storage.assign(l.params.size(), 0);
    p.params.resize(l.params.size());
    for (size_t pi = 0; pi < l.params.size(); ++pi) {
      const ParamSpec &param = l.params[pi];
      auto path = [&] {
        return l.path + ".params[" + std::to_string(pi) + "]";
      };
      auto it = symbols.find(param.name);
      if (it == symbols.end())
        fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": ", path(), ": parameter '",
             param.name, "' of kernel '", l.kernel, "' is not bound");
      const SymbolValue &v = it->second;
      SymbolKind want = param.type == ParamType::Ptr   ? SymbolKind::Ptr
                        : param.type == ParamType::F32 ? SymbolKind::Float
                                                       : SymbolKind::Int;
      if (v.kind != want)
        fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": ", path(), ": parameter '",
             param.name, "' has type ", paramTypeName(param.type),
             " but is bound to ", symbolKindArticle(v.kind));
      void *slot = &p.storage[pi];
      switch (param.type) {
      case ParamType::Ptr:
        std::memcpy(slot, &v.ptr, sizeof(uint64_t));
        break;
      case ParamType::I64:
        std::memcpy(slot, &v.i, sizeof(int64_t));
        break;
      case ParamType::I32: {
        if (v.i < std::numeric_limits<int32_t>::min() ||
            v.i > std::numeric_limits<int32_t>::max())
          fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": ", path(),
               ": parameter '", param.name, "' is i32 but its value ", v.i,
               " does not fit in 32 bits");
        int32_t x = static_cast<int32_t>(v.i);
        std::memcpy(slot, &x, sizeof(x));
        break;
      }
      case ParamType::F32: {
        float x = static_cast<float>(v.f);
        std::memcpy(slot, &x, sizeof(x));
        break;
      }
      }
      p.params[pi] = slot;
    }
    out.push_back(std::move(p));
  }
  return out;
}

void launchEntry(Context &ctx, const Package &pkg, size_t entryIndex,
                 SymbolTable symbols, CUstream stream) {
  const EntrySpec &entry = pkg.manifest().entries.at(entryIndex);
  // Scratch sizes first (they may not depend on scratch pointers), then
  // allocation, then everything else is evaluated before the first launch.
  std::vector<int64_t> scratchBytes;
  for (size_t i = 0; i < entry.scratch.size(); ++i) {
    if (symbols.count(entry.scratch[i].name))
      fail(DJ_ERROR_INVALID_ARGUMENT, entry.op, ": scratch buffer '",
           entry.scratch[i].name, "' of ", entry.path,
           " has the name of a bound symbol");
    scratchBytes.push_back(evaluateScratchBytes(entry, i, symbols));
  }
  std::vector<CUfunction> functions;
  for (size_t li = 0; li < entry.launches.size(); ++li)
    functions.push_back(pkg.function(entryIndex, li));
  // Bind placeholders so that params can be checked before allocating.
  if (!entry.scratch.empty()) {
    for (const ScratchSpec &s : entry.scratch)
      symbols[s.name] = SymbolValue::pointer(CUdeviceptr(0));
    prepareLaunches(entry, symbols, functions);
  }
  for (size_t i = 0; i < entry.scratch.size(); ++i)
    symbols[entry.scratch[i].name] = SymbolValue::pointer(
        ctx.workspace(stream, "scratch." + entry.scratch[i].name,
                      static_cast<size_t>(scratchBytes[i])));
  std::vector<PreparedLaunch> launches =
      prepareLaunches(entry, symbols, functions);

  const Driver &d = ctx.driver();
  bool programmatic = programmaticLaunchEnabled();
  for (PreparedLaunch &l : launches) {
    if (l.skip)
      continue;
    bool early = programmatic && l.programmaticWait;
    CUresult r;
    if (early) {
      // The kernel waits for its predecessor in-kernel (griddepcontrol):
      // its blocks may become resident while that one finishes.
      CUlaunchAttribute attr{};
      attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      attr.value.programmaticStreamSerializationAllowed = 1;
      CUlaunchConfig config{};
      config.gridDimX = l.grid[0];
      config.gridDimY = l.grid[1];
      config.gridDimZ = l.grid[2];
      config.blockDimX = l.block[0];
      config.blockDimY = l.block[1];
      config.blockDimZ = l.block[2];
      config.sharedMemBytes = l.sharedBytes;
      config.hStream = stream;
      config.attrs = &attr;
      config.numAttrs = 1;
      r = d.cuLaunchKernelEx(&config, l.function, l.params.data(), nullptr);
    } else {
      r = d.cuLaunchKernel(l.function, l.grid[0], l.grid[1], l.grid[2],
                           l.block[0], l.block[1], l.block[2], l.sharedBytes,
                           stream, l.params.data(), nullptr);
    }
    if (r != CUDA_SUCCESS)
      d.check(r, concat(early ? "cuLaunchKernelEx('" : "cuLaunchKernel('",
                        l.kernel, "', grid ", l.grid[0], "x", l.grid[1], "x",
                        l.grid[2], ", block ", l.block[0], "x", l.block[1], "x",
                        l.block[2], ", ", l.sharedBytes, " bytes shared)"));
  }
}

bool programmaticLaunchEnabled() {
  // Read once: launchEntry runs on every forward call and decode step.
  static const bool enabled = [] {
    const char *env = std::getenv("DELTAJIT_PROGRAMMATIC_LAUNCH");
    return !(env && std::string(env) == "0");
  }();
  return enabled;
}

} // namespace deltajit
