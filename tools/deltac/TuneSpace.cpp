//===- TuneSpace.cpp - deltac's tuning space: configs, variants, tuning DB ===//

#include "TuneSpace.h"

#include "deltajit/Codegen/PackageWriter.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace mlir;
namespace json = llvm::json;

namespace deltajit::tune {

namespace {

constexpr llvm::StringLiteral kKernelModule = "deltajit_kernels";

const char *phasesName(int64_t phases) {
  return phases == 3 ? "split3" : phases == 2 ? "split" : "fused";
}

std::string signatureString(llvm::StringRef op, llvm::StringRef dtype,
                            int64_t dk, int64_t dv,
                            std::optional<int64_t> chunk, bool l2norm) {
  std::string s = op.str() + " " + dtype.str() + " dk=" + std::to_string(dk) +
                  " dv=" + std::to_string(dv);
  if (chunk)
    s += " chunk=" + std::to_string(*chunk);
  if (l2norm)
    s += " l2norm";
  return s;
}

/// The kernels a delta.launch runs, in order.
std::vector<std::string> kernelsOf(delta::LaunchOp launch) {
  std::vector<std::string> names;
  if (auto list = launch.getLaunch().getAs<ArrayAttr>("launches")) {
    for (Attribute l : list)
      if (auto d = dyn_cast<DictionaryAttr>(l))
        if (auto k = d.getAs<StringAttr>("kernel"))
          names.push_back(k.getValue().str());
  } else {
    names.push_back(launch.getKernel().getLeafReference().getValue().str());
  }
  return names;
}

gpu::GPUModuleOp kernelModule(ModuleOp module) {
  return module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule);
}

void replaceAll(std::string &s, llvm::StringRef from, llvm::StringRef to) {
  if (from.empty())
    return;
  size_t pos = 0;
  while ((pos = s.find(from.data(), pos, from.size())) != std::string::npos) {
    s.replace(pos, from.size(), to.data(), to.size());
    pos += to.size();
  }
}

/// The printed code of kernel `fn`.
std::string kernelText(Operation *fn) {
  std::string text;
  llvm::raw_string_ostream os(text);
  fn->print(os);
  return text;
}

/// `text` (a kernel's code) with the kernel's own name `name` replaced.
std::string withoutOwnName(std::string text, llvm::StringRef name) {
  replaceAll(text, ("@" + name).str(), "@<self>");
  return text;
}

/// Entry keys (without the tile and config), launch contract and kernel
/// code of `launch`, with its kernel names replaced by their position.
/// Kernels `module` does not define (shared with an earlier variant) are
/// taken from `shared` (name -> code).
std::string fingerprint(delta::LaunchOp launch, ModuleOp module,
                        const llvm::StringMap<std::string> &shared) {
  std::string text;
  llvm::raw_string_ostream os(text);
  DictionaryAttr info = launch.getLaunch();
  if (auto entry = info.getAs<DictionaryAttr>("entry"))
    for (NamedAttribute a : entry)
      if (a.getName() != "tile" && a.getName() != "config")
        os << a.getName().getValue() << "=" << a.getValue() << ";";
  for (NamedAttribute a : info)
    if (a.getName() != "entry")
      os << a.getName().getValue() << "=" << a.getValue() << ";";
  std::vector<std::string> kernels = kernelsOf(launch);
  gpu::GPUModuleOp kmod = kernelModule(module);
  for (const std::string &k : kernels) {
    os << "\nkernel ";
    Operation *fn = kmod ? kmod.lookupSymbol(k) : nullptr;
    auto it = shared.find(k);
    if (fn)
      fn->print(os);
    else if (it != shared.end())
      os << it->second;
    else
      os << "<missing " << k << ">";
  }
  // Longest names first, so no name is replaced inside a longer one.
  std::vector<std::pair<std::string, size_t>> byLength;
  for (auto [i, k] : llvm::enumerate(kernels))
    byLength.push_back({k, i});
  llvm::sort(byLength,
             [](auto &a, auto &b) { return a.first.size() > b.first.size(); });
  for (auto &[k, i] : byLength)
    replaceAll(text, k, "<kernel" + std::to_string(i) + ">");
  return text;
}

std::optional<int64_t> parseNumber(llvm::StringRef s) {
  int64_t v;
  if (s.trim().getAsInteger(10, v))
    return std::nullopt;
  return v;
}

} // namespace

//===----------------------------------------------------------------------===//
// Configurations and the space
//===----------------------------------------------------------------------===//

std::string TileConfig::name() const {
  std::string n = "bv" + std::to_string(blockV) + "_w" + std::to_string(warps) +
                  "_" + phasesName(phases);
  if (stages != 1)
    n += "_s" + std::to_string(stages);
  if (!epilogueFusion)
    n += "_noepi";
  if (parallelBlockV)
    n += "_pv" + std::to_string(parallelBlockV);
  if (!outputInScan && phases == 3)
    n += "_sepout";
  if (segmentChunks && phases == 3)
    n += "_seg" + std::to_string(segmentChunks);
  if (mma == "wgmma")
    n += "_wgmma";
  else if (mma == "mma.sync")
    n += "_mmasync";
  return n;
}

std::optional<TileConfig> TileConfig::fromName(llvm::StringRef name,
                                               std::string &error) {
  llvm::SmallVector<llvm::StringRef> parts;
  name.split(parts, '_');
  TileConfig c;
  auto bad = [&](const std::string &why) -> std::optional<TileConfig> {
    error = "'" + name.str() + "' is not a config name (" + why +
            "; expected "
            "bv<N>_w<N>_<fused|split|split3>[_s<N>][_noepi][_pv<N>][_sepout]"
            "[_seg<N>][_wgmma|_mmasync])";
    return std::nullopt;
  };
  if (parts.size() < 3)
    return bad("too few fields");
  auto number = [&](llvm::StringRef part,
                    llvm::StringRef prefix) -> std::optional<int64_t> {
    if (!part.consume_front(prefix))
      return std::nullopt;
    auto v = parseNumber(part);
    if (!v || *v < 1)
      return std::nullopt;
    return v;
  };
  auto bv = number(parts[0], "bv");
  auto w = number(parts[1], "w");
  if (!bv || !w)
    return bad("bad block_v or warps");
  c.blockV = *bv;
  c.warps = *w;
  if (parts[2] == "fused")
    c.phases = 1;
  else if (parts[2] == "split")
    c.phases = 2;
  else if (parts[2] == "split3")
    c.phases = 3;
  else
    return bad("unknown kernel split '" + parts[2].str() + "'");
  for (llvm::StringRef p : llvm::ArrayRef(parts).drop_front(3)) {
    if (p == "noepi" && c.epilogueFusion) {
      c.epilogueFusion = false;
    } else if ((p == "wgmma" || p == "mmasync") && c.mma == "auto") {
      c.mma = p == "wgmma" ? "wgmma" : "mma.sync";
    } else if (auto s = number(p, "s"); s && c.stages == 1 && *s != 1) {
      c.stages = *s;
    } else if (auto pv = number(p, "pv");
               pv && c.parallelBlockV == 0 && c.phases == 3) {
      c.parallelBlockV = *pv;
    } else if (p == "sepout" && c.outputInScan && c.phases == 3) {
      c.outputInScan = false;
    } else if (auto seg = number(p, "seg");
               seg && c.segmentChunks == 0 && c.phases == 3) {
      c.segmentChunks = *seg;
    } else {
      return bad("unexpected field '" + p.str() + "'");
    }
  }
  if (c.name() != name)
    return bad("fields out of order");
  return c;
}

bool parseTuneSpace(llvm::StringRef spec, const TileConfig &defaults,
                    std::vector<TileConfig> &configs, std::string &error) {
  // Values per key, in the spec's order.
  std::vector<int64_t> blockV{defaults.blockV}, warps{defaults.warps},
      stages{defaults.stages}, phases{defaults.phases};
  std::vector<bool> epilogue{defaults.epilogueFusion};
  std::vector<std::string> mma{defaults.mma};
  std::vector<int64_t> parallel{defaults.parallelBlockV};
  std::vector<bool> outputInScan{defaults.outputInScan};
  std::vector<int64_t> segment{defaults.segmentChunks};
  llvm::StringSet<> seen;
  bool sawSplit = false, sawPhases = false;
  llvm::SmallVector<llvm::StringRef> items;
  spec.split(items, ';', -1, /*KeepEmpty=*/false);
  if (llvm::all_of(items, [](llvm::StringRef i) { return i.trim().empty(); })) {
    error = "empty tuning space";
    return false;
  }
  for (llvm::StringRef item : items) {
    item = item.trim();
    if (item.empty())
      continue;
    auto [keyRef, valuesRef] = item.split('=');
    llvm::StringRef key = keyRef.trim();
    if (!item.contains('=') || valuesRef.trim().empty()) {
      error = "'" + item.str() + "': expected KEY=VALUE[,VALUE...]";
      return false;
    }
    if (!seen.insert(key).second) {
      error = "key '" + key.str() + "' is given twice";
      return false;
    }
    llvm::SmallVector<llvm::StringRef> values;
    valuesRef.split(values, ',');
    std::vector<int64_t> ints;
    auto integers = [&](int64_t lo, llvm::ArrayRef<int64_t> allowed) {
      ints.clear();
      for (llvm::StringRef v : values) {
        auto n = parseNumber(v);
        bool ok = n && *n >= lo &&
                  (allowed.empty() || llvm::is_contained(allowed, *n));
        if (!ok) {
          error = "'" + key.str() + "': bad value '" + v.trim().str() + "'";
          if (!allowed.empty()) {
            error += " (allowed:";
            for (int64_t a : allowed)
              error += " " + std::to_string(a);
            error += ")";
          } else {
            error += " (expected an integer >= " + std::to_string(lo) + ")";
          }
          return false;
        }
        if (!llvm::is_contained(ints, *n))
          ints.push_back(*n);
      }
      return true;
    };
    // A 0 / 1 key into `flags`.
    auto booleans = [&](std::vector<bool> &flags) {
      if (!integers(0, {0, 1}))
        return false;
      flags.clear();
      for (int64_t v : ints)
        flags.push_back(v != 0);
      return true;
    };
    if (key == "block-v") {
      if (!integers(1, {}))
        return false;
      blockV = ints;
    } else if (key == "warps") {
      if (!integers(1, {1, 2, 4, 8}))
        return false;
      warps = ints;
    } else if (key == "stages") {
      if (!integers(1, {}))
        return false;
      stages = ints;
    } else if (key == "split") {
      if (!integers(0, {0, 1}))
        return false;
      phases.clear();
      for (int64_t v : ints)
        phases.push_back(v ? 2 : 1);
      sawSplit = true;
    } else if (key == "phases") {
      if (!integers(1, {1, 2, 3}))
        return false;
      phases = ints;
      sawPhases = true;
    } else if (key == "epilogue") {
      if (!booleans(epilogue))
        return false;
    } else if (key == "mma") {
      mma.clear();
      for (llvm::StringRef v : values) {
        if (v.trim() != "auto" && v.trim() != "mma.sync" &&
            v.trim() != "wgmma") {
          error = "'mma': bad value '" + v.trim().str() +
                  "' (allowed: auto, mma.sync, wgmma)";
          return false;
        }
        if (!llvm::is_contained(mma, v.trim().str()))
          mma.push_back(v.trim().str());
      }
    } else if (key == "parallel-block-v") {
      parallel.clear();
      for (llvm::StringRef v : values) {
        std::optional<int64_t> n =
            v.trim() == "auto" ? std::optional<int64_t>(0) : parseNumber(v);
        if (!n || *n < 0) {
          error = "'parallel-block-v': bad value '" + v.trim().str() +
                  "' (expected auto or an integer >= 1)";
          return false;
        }
        if (!llvm::is_contained(parallel, *n))
          parallel.push_back(*n);
      }
    } else if (key == "output-in-scan") {
      if (!booleans(outputInScan))
        return false;
    } else if (key == "segment-chunks") {
      if (!integers(0, {}))
        return false;
      for (int64_t v : ints)
        if (v % 2 != 0) {
          error = "'segment-chunks': bad value '" + std::to_string(v) +
                  "' (expected 0 or an even number of chunks)";
          return false;
        }
      segment = ints;
    } else if (key == "chunk") {
      error = "'chunk' cannot be tuned: the chunk size is part of the "
              "entry lookup keys (the op's chunk_size attribute), not a "
              "tile option (docs/tuning.md)";
      return false;
    } else {
      error = "unknown key '" + key.str() +
              "' (keys: block-v, warps, stages, split, phases, epilogue, mma, "
              "parallel-block-v, output-in-scan, segment-chunks)";
      return false;
    }
  }
  if (sawSplit && sawPhases) {
    error = "give 'split' or 'phases', not both";
    return false;
  }
  configs.clear();
  configs.push_back(defaults);
  llvm::StringSet<> names;
  names.insert(defaults.name());
  for (int64_t bv : blockV)
    for (int64_t w : warps)
      for (int64_t s : stages)
        for (int64_t p : phases)
          for (bool e : epilogue)
            for (const std::string &m : mma)
              for (int64_t pv : parallel)
                for (bool ois : outputInScan)
                  for (int64_t seg : segment) {
                    // The parallel value tile, the output's place and the
                    // segments only shape three-phase kernels (segments
                    // those whose scan computes the output).
                    TileConfig c{bv,
                                 w,
                                 s,
                                 p,
                                 e,
                                 m,
                                 p == 3 ? pv : 0,
                                 p == 3 ? ois : true,
                                 p == 3 && ois ? seg : 0};
                    if (names.insert(c.name()).second)
                      configs.push_back(c);
                  }
  constexpr size_t kMaxConfigs = 256;
  if (configs.size() > kMaxConfigs) {
    error = "the space has " + std::to_string(configs.size()) +
            " configurations; at most " + std::to_string(kMaxConfigs);
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Op templates, variants, merging
//===----------------------------------------------------------------------===//

std::string signatureOf(DictionaryAttr entry) {
  auto str = [&](llvm::StringRef k) {
    auto a = entry.getAs<StringAttr>(k);
    return a ? a.getValue() : llvm::StringRef();
  };
  auto num = [&](llvm::StringRef k) -> std::optional<int64_t> {
    if (auto a = entry.getAs<IntegerAttr>(k))
      return a.getInt();
    return std::nullopt;
  };
  auto l2 = entry.getAs<BoolAttr>("use_qk_l2norm");
  return signatureString(str("op"), str("dtype"), num("dk").value_or(0),
                         num("dv").value_or(0), num("chunk"),
                         l2 && l2.getValue());
}

std::vector<OpTemplate> extractDeltaRuleOps(ModuleOp module) {
  std::vector<OpTemplate> templates;
  llvm::StringSet<> seen;
  module.walk([&](delta::DeltaRuleOp op) {
    std::string key;
    llvm::raw_string_ostream os(key);
    for (Type t : op->getOperandTypes())
      os << t << ",";
    os << "->";
    for (Type t : op->getResultTypes())
      os << t << ",";
    os << op->getAttrDictionary() << op.getODSOperands(4).size()
       << op.getODSOperands(5).size();
    if (!seen.insert(key).second)
      return;
    MLIRContext *ctx = op.getContext();
    OpBuilder b(ctx);
    Location loc = op.getLoc();
    OpTemplate t;
    t.module = ModuleOp::create(loc);
    b.setInsertionPointToEnd(t.module->getBody());
    auto fn = func::FuncOp::create(
        b, loc, "tune_op",
        b.getFunctionType(op->getOperandTypes(), op->getResultTypes()));
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (auto [operand, arg] :
         llvm::zip(op->getOperands(), body->getArguments()))
      map.map(operand, arg);
    Operation *clone = b.clone(*op, map);
    func::ReturnOp::create(b, loc, clone->getResults());
    auto qType = cast<ShapedType>(op.getQ().getType());
    auto vType = cast<ShapedType>(op.getV().getType());
    t.dk = qType.getDimSize(3);
    t.dv = vType.getDimSize(3);
    t.signature = signatureString(
        "delta_rule_forward", manifestDtype(qType.getElementType()), t.dk, t.dv,
        int64_t(op.getChunkSize()), op.getUseQkL2norm());
    templates.push_back(std::move(t));
  });
  return templates;
}

std::optional<std::string> VariantSet::duplicateOf(Operation *launch,
                                                   ModuleOp module) const {
  auto l = dyn_cast<delta::LaunchOp>(launch);
  if (!l)
    return std::nullopt;
  auto it = fingerprints_.find(fingerprint(l, module, codeOf_));
  if (it == fingerprints_.end())
    return std::nullopt;
  return it->second;
}

void VariantSet::add(ModuleOp module, llvm::StringRef config) {
  module.walk([&](delta::LaunchOp l) {
    fingerprints_.emplace(fingerprint(l, module, codeOf_), config.str());
  });
  if (gpu::GPUModuleOp kmod = kernelModule(module))
    for (auto fn : kmod.getOps<gpu::GPUFuncOp>()) {
      kernelNames_.insert(fn.getName());
      std::string text = kernelText(fn);
      kernelByCode_.emplace(withoutOwnName(text, fn.getName()),
                            fn.getName().str());
      codeOf_[fn.getName()] = std::move(text);
    }
}

void VariantSet::shareKernels(ModuleOp module) {
  gpu::GPUModuleOp kmod = kernelModule(module);
  if (!kmod)
    return;
  llvm::StringMap<std::string> renamed;
  for (auto fn : llvm::make_early_inc_range(kmod.getOps<gpu::GPUFuncOp>())) {
    auto it = kernelByCode_.find(withoutOwnName(kernelText(fn), fn.getName()));
    if (it == kernelByCode_.end())
      continue;
    renamed[fn.getName()] = it->second;
    fn.erase();
  }
  renameKernels(module, renamed);
}

void VariantSet::uniquifyKernelNames(ModuleOp module, llvm::StringRef config) {
  gpu::GPUModuleOp kmod = kernelModule(module);
  if (!kmod)
    return;
  llvm::StringMap<std::string> renamed;
  for (auto fn : llvm::make_early_inc_range(kmod.getOps<gpu::GPUFuncOp>())) {
    std::string old = fn.getName().str();
    if (!kernelNames_.contains(old))
      continue;
    std::string name = old + "_" + config.str();
    for (int i = 2; kernelNames_.contains(name) || kmod.lookupSymbol(name); ++i)
      name = old + "_" + config.str() + "_" + std::to_string(i);
    SymbolTable::setSymbolName(fn, name);
    renamed[old] = name;
  }
  renameKernels(module, renamed);
}

void VariantSet::renameKernels(ModuleOp module,
                               const llvm::StringMap<std::string> &renamed) {
  if (renamed.empty())
    return;
  MLIRContext *ctx = module.getContext();
  Builder b(ctx);
  module.walk([&](delta::LaunchOp l) {
    SymbolRefAttr ref = l.getKernel();
    auto leaf = renamed.find(ref.getLeafReference().getValue());
    if (leaf != renamed.end())
      l.setKernelAttr(SymbolRefAttr::get(
          ref.getRootReference(), {FlatSymbolRefAttr::get(ctx, leaf->second)}));
    DictionaryAttr info = l.getLaunch();
    auto list = info.getAs<ArrayAttr>("launches");
    if (!list)
      return;
    SmallVector<Attribute> launches;
    for (Attribute a : list) {
      auto d = cast<DictionaryAttr>(a);
      NamedAttrList attrs(d);
      if (auto k = d.getAs<StringAttr>("kernel")) {
        auto it = renamed.find(k.getValue());
        if (it != renamed.end())
          attrs.set("kernel", b.getStringAttr(it->second));
      }
      launches.push_back(attrs.getDictionary(ctx));
    }
    NamedAttrList newInfo(info);
    newInfo.set("launches", b.getArrayAttr(launches));
    l.setLaunchAttr(newInfo.getDictionary(ctx));
  });
}

void mergeKernelModule(ModuleOp into, ModuleOp from) {
  gpu::GPUModuleOp kin = kernelModule(into), kfrom = kernelModule(from);
  Block *kernels = kin.getBody();
  for (Operation &op : llvm::make_early_inc_range(*kfrom.getBody())) {
    if (auto sym = dyn_cast<SymbolOpInterface>(op))
      if (kin.lookupSymbol(sym.getName()))
        continue; // the shared-memory global, present once per module
    op.moveBefore(kernels, kernels->end());
  }
  Block *host = into.getBody();
  for (Operation &op : llvm::make_early_inc_range(*from.getBody())) {
    if (&op == kfrom.getOperation())
      continue;
    if (auto fn = dyn_cast<func::FuncOp>(op)) {
      std::string name = fn.getName().str();
      for (int i = 1; into.lookupSymbol(name); ++i)
        name = fn.getName().str() + "_" + std::to_string(i);
      SymbolTable::setSymbolName(fn, name);
    }
    op.moveBefore(host, host->end());
  }
}

//===----------------------------------------------------------------------===//
// The tuning database
//===----------------------------------------------------------------------===//

bool readTuningDb(llvm::StringRef path, std::vector<DbRecord> &records,
                  std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "cannot read '" + path.str() + "': " + buffer.getError().message();
    return false;
  }
  auto parsed = json::parse((*buffer)->getBuffer());
  if (!parsed) {
    error = "'" + path.str() +
            "' is not valid JSON: " + llvm::toString(parsed.takeError());
    return false;
  }
  json::Object *root = parsed->getAsObject();
  if (!root || root->getString("format") != "deltajit-tuning-db" ||
      root->getInteger("format_version") != 1 || !root->getArray("records")) {
    error = "'" + path.str() +
            "' is not a deltajit tuning database (format "
            "\"deltajit-tuning-db\", version 1, written by delta-tune)";
    return false;
  }
  for (json::Value &v : *root->getArray("records")) {
    json::Object *r = v.getAsObject();
    if (!r)
      continue;
    auto s = [&](llvm::StringRef k) { return r->getString(k); };
    auto i = [&](llvm::StringRef k) { return r->getInteger(k); };
    auto l2 = r->getBoolean("use_qk_l2norm");
    if (!s("gpu") || !s("compute_capability") || !s("op") || !s("dtype") ||
        !s("bucket") || !s("config") || !i("dk") || !i("dv") || !l2)
      continue;
    DbRecord d;
    d.gpu = s("gpu")->str();
    d.computeCapability = s("compute_capability")->str();
    d.compiler = s("compiler").value_or("").str();
    d.tunedAt = s("tuned_at").value_or("").str();
    d.smCount = i("sm_count").value_or(0);
    d.driverVersion = i("driver_version").value_or(0);
    std::optional<int64_t> chunk = i("chunk");
    d.signature =
        signatureString(*s("op"), *s("dtype"), *i("dk"), *i("dv"), chunk, *l2);
    d.keys = json::Object{{"op", s("op")->str()},
                          {"dtype", s("dtype")->str()},
                          {"dk", *i("dk")},
                          {"dv", *i("dv")},
                          {"use_qk_l2norm", *l2}};
    if (chunk)
      d.keys["chunk"] = *chunk;
    d.bucket = s("bucket")->str();
    d.config = s("config")->str();
    if (json::Array *times = r->getArray("times_ms"))
      for (json::Value &t : *times)
        if (json::Object *o = t.getAsObject())
          if (auto c = o->getString("config"))
            if (auto code = o->getString("code"); code && !code->empty())
              d.codes[c->str()] = code->str();
    records.push_back(std::move(d));
  }
  return true;
}

bool codeMismatches(llvm::StringRef packageDir,
                    const std::vector<DbRecord> &records,
                    std::vector<std::string> &mismatches, std::string &error) {
  SmallString<256> path(packageDir);
  llvm::sys::path::append(path, "manifest.json");
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "cannot read '" + path.str().str() +
            "': " + buffer.getError().message();
    return false;
  }
  auto parsed = json::parse((*buffer)->getBuffer());
  json::Object *root = parsed ? parsed->getAsObject() : nullptr;
  if (!root) {
    if (!parsed)
      llvm::consumeError(parsed.takeError());
    error = "'" + path.str().str() + "' is not a JSON object";
    return false;
  }
  // Kernel -> its code fingerprint.
  std::map<std::string, std::string> kernelCode;
  if (json::Array *modules = root->getArray("modules"))
    for (json::Value &m : *modules)
      if (json::Object *mo = m.getAsObject())
        if (json::Object *code = mo->getObject("kernel_code"))
          for (auto &[k, v] : *code)
            if (auto c = v.getAsString())
              kernelCode[k.str()] = c->str();
  // (signature, config) -> the entry's fingerprint, as the runtime's
  // entryCodeFingerprint computes it ("" when a kernel has none).
  std::map<std::pair<std::string, std::string>, std::string> entryCode;
  if (json::Array *entries = root->getArray("entries"))
    for (json::Value &v : *entries) {
      json::Object *e = v.getAsObject();
      if (!e || !e->getString("config") || !e->getString("op"))
        continue;
      auto l2 = e->getBoolean("use_qk_l2norm");
      std::string sig = signatureString(
          *e->getString("op"), e->getString("dtype").value_or(""),
          e->getInteger("dk").value_or(0), e->getInteger("dv").value_or(0),
          e->getInteger("chunk"), l2 && *l2);
      std::string codes;
      bool complete = true;
      if (json::Array *launches = e->getArray("launches"))
        for (json::Value &l : *launches) {
          json::Object *lo = l.getAsObject();
          auto k = lo ? lo->getString("kernel") : std::nullopt;
          auto it = k ? kernelCode.find(k->str()) : kernelCode.end();
          if (it == kernelCode.end()) {
            complete = false;
            break;
          }
          codes += it->second + "\n";
        }
      entryCode[{sig, e->getString("config")->str()}] =
          complete
              ? llvm::toHex(llvm::SHA256::hash(ArrayRef<uint8_t>(
                                (const uint8_t *)codes.data(), codes.size())),
                            /*LowerCase=*/true)
                    .substr(0, 16)
              : "";
    }
  for (const DbRecord &r : records) {
    auto measured = r.codes.find(r.config);
    auto compiled = entryCode.find({r.signature, r.config});
    if (measured == r.codes.end() || compiled == entryCode.end() ||
        compiled->second.empty() || compiled->second == measured->second)
      continue;
    mismatches.push_back(r.config + " for " + r.signature + " (" + r.bucket +
                         "): measured " + measured->second + ", compiled " +
                         compiled->second);
  }
  return true;
}

bool selectGpuRecords(const std::vector<DbRecord> &all,
                      const std::vector<std::string> &gpus,
                      std::vector<DbRecord> &selected, std::string &error) {
  std::set<std::string> names;
  for (const DbRecord &r : all)
    names.insert(r.gpu);
  auto list = [&] {
    std::string s;
    for (const std::string &n : names)
      s += (s.empty() ? "'" : ", '") + n + "'";
    return s.empty() ? std::string("none") : s;
  };
  std::set<std::string> wanted(gpus.begin(), gpus.end());
  if (wanted.empty()) {
    if (names.size() != 1) {
      error = names.empty()
                  ? "the tuning database has no records"
                  : "the tuning database has records of several GPUs (" +
                        list() + "): name the ones to use with --tune-gpu";
      return false;
    }
    wanted = names;
  }
  for (const std::string &g : wanted)
    if (!names.count(g)) {
      error = "the tuning database has no records of GPU '" + g +
              "' (it has: " + list() + ")";
      return false;
    }
  // Newest per (GPU, compute capability, signature, bucket).
  std::map<std::string, const DbRecord *> newest;
  for (const DbRecord &r : all) {
    if (!wanted.count(r.gpu))
      continue;
    std::string key = r.gpu + "\x1f" + r.computeCapability + "\x1f" +
                      r.signature + "\x1f" + r.bucket;
    auto [it, added] = newest.emplace(key, &r);
    if (!added && it->second->tunedAt < r.tunedAt)
      it->second = &r;
  }
  selected.clear();
  for (auto &[key, r] : newest)
    selected.push_back(*r);
  return true;
}

json::Value
tuningSection(const std::vector<DbRecord> &records,
              const std::map<std::string, std::set<std::string>> &available,
              int &dropped) {
  // One table per (GPU, compute capability), in name order.
  std::map<std::pair<std::string, std::string>, std::vector<const DbRecord *>>
      byGpu;
  for (const DbRecord &r : records)
    byGpu[{r.gpu, r.computeCapability}].push_back(&r);
  json::Array tables;
  dropped = 0;
  for (auto &[gpu, rs] : byGpu) {
    json::Array rows;
    const DbRecord *newest = rs.front();
    for (const DbRecord *r : rs) {
      if (newest->tunedAt < r->tunedAt)
        newest = r;
      auto it = available.find(r->signature);
      if (it == available.end() || !it->second.count(r->config)) {
        ++dropped;
        continue;
      }
      json::Object row = r->keys;
      row["bucket"] = r->bucket;
      row["config"] = r->config;
      rows.push_back(std::move(row));
    }
    tables.push_back(json::Object{
        {"gpu", json::Object{{"name", gpu.first},
                             {"compute_capability", gpu.second},
                             {"sm_count", newest->smCount},
                             {"driver_version", newest->driverVersion}}},
        {"measured_with", newest->compiler},
        {"table", std::move(rows)}});
  }
  return json::Value(std::move(tables));
}

} // namespace deltajit::tune
