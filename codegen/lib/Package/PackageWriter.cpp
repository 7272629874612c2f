//===- PackageWriter.cpp - write a deltajit package -----------------------===//
//
// manifest.json (llvm::json) and the PTX of every gpu.binary, written into a
// temporary sibling directory and renamed into place.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/PackageWriter.h"
#include "deltajit/Codegen/Passes.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace deltajit;
namespace json = llvm::json;

namespace {

std::string hex(ArrayRef<uint8_t> bytes) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (uint8_t b : bytes)
    os << llvm::format_hex_no_prefix(b, 2);
  return out;
}

/// The kernels (`.entry` functions) a PTX module defines.
std::vector<std::string> ptxEntries(StringRef text) {
  std::vector<std::string> names;
  SmallVector<StringRef> lines;
  text.split(lines, '\n');
  for (StringRef line : lines) {
    line = line.trim();
    line.consume_front(".visible ");
    line.consume_front(".weak ");
    if (!line.consume_front(".entry "))
      continue;
    StringRef name =
        line.take_until([](char c) { return c == '(' || c == ' '; });
    if (!name.empty())
      names.push_back(name.str());
  }
  return names;
}

/// A fingerprint of kernel `name`'s code in PTX module `text`: 16 hex digits
/// of the SHA-256 of its `.entry` text (from its line to the closing brace
/// at column 0) with its own name replaced and the names that number it
/// among the module's functions made neutral (`$L__BB<f>_<b>` labels and
/// `__local_depot<f>` lose <f>), so that one kernel's code has one
/// fingerprint whatever the package names it and whichever kernels share
/// its module (the manifest's `kernel_code`; the tuning database compares
/// them). "" when the entry is not found. (Before the labels were
/// neutral, a kernel moved to another position of its module by deltac
/// --tuning-db's variants, e.g. a prepare kernel shared with a block_v 128
/// winner, got another fingerprint for the same code.)
std::string kernelCode(StringRef text, StringRef name) {
  size_t at = StringRef::npos;
  for (size_t from = 0;;) {
    size_t e = text.find(".entry " + name.str(), from);
    if (e == StringRef::npos)
      break;
    size_t after = e + 7 + name.size();
    if (after < text.size() &&
        (text[after] == '(' || text[after] == ' ' || text[after] == '\n')) {
      at = e;
      break;
    }
    from = after;
  }
  if (at == StringRef::npos)
    return "";
  size_t end = text.find("\n}\n", at);
  StringRef body = text.slice(at, end == StringRef::npos ? text.size() : end);
  std::string normalized;
  for (size_t i = 0; i < body.size();) {
    StringRef rest = body.substr(i);
    if (rest.starts_with(name)) {
      normalized += "<kernel>";
      i += name.size();
      continue;
    }
    // The function ordinal in `$L__BB<f>_<b>` and `__local_depot<f>` (the
    // latter only in kernels with local arrays: none of today's, so only
    // the labels are exercised, by deltac-tuning-db-measured.test).
    bool numbered = false;
    for (StringRef prefix : {"$L__BB", "__local_depot"}) {
      if (!rest.starts_with(prefix))
        continue;
      normalized += prefix;
      i += prefix.size();
      while (i < body.size() && llvm::isDigit(body[i]))
        ++i;
      numbered = true;
      break;
    }
    if (!numbered)
      normalized += body[i++];
  }
  return hex(llvm::SHA256::hash(ArrayRef<uint8_t>(
                 (const uint8_t *)normalized.data(), normalized.size())))
      .substr(0, 16);
}

/// An attribute of a launch's entry dictionary as JSON.
json::Value toJSON(Attribute attr) {
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.getValue().str();
  if (auto b = dyn_cast<BoolAttr>(attr))
    return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getInt();
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto t = dyn_cast<delta::TileAttr>(attr))
    return json::Object{{"chunk", t.getChunk()},
                        {"block_v", t.getBlockV()},
                        {"warps", t.getWarps()},
                        {"stages", t.getStages()}};
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  return text;
}

bool writeFile(StringRef path, StringRef contents, std::string &error) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    error = "cannot write '" + path.str() + "': " + ec.message();
    return false;
  }
  os << contents;
  os.close();
  if (os.has_error()) {
    error = "cannot write '" + path.str() + "': " + os.error().message();
    return false;
  }
  return true;
}

/// Whether `dir` may be replaced: absent, empty, or an earlier package.
bool replaceable(StringRef dir, std::string &error) {
  if (!llvm::sys::fs::exists(dir))
    return true;
  if (!llvm::sys::fs::is_directory(dir)) {
    error = "'" + dir.str() + "' exists and is not a directory";
    return false;
  }
  SmallString<256> manifest(dir);
  llvm::sys::path::append(manifest, "manifest.json");
  auto buffer = llvm::MemoryBuffer::getFile(manifest);
  if (buffer) {
    auto parsed = json::parse((*buffer)->getBuffer());
    if (parsed) {
      if (auto *obj = parsed->getAsObject())
        if (obj->getString("format") == "deltajit-package")
          return true;
    } else {
      llvm::consumeError(parsed.takeError());
    }
  }
  std::error_code ec;
  llvm::sys::fs::directory_iterator it(dir, ec), end;
  if (!ec && it == end)
    return true;
  error = "'" + dir.str() +
          "' exists and is not a deltajit package; refusing to overwrite it";
  return false;
}

} // namespace

std::string deltajit::manifestDtype(Type t) {
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "fp16";
  return "fp32";
}

bool deltajit::writePackage(ModuleOp module, StringRef dir, StringRef producer,
                            PackageSummary &summary, std::string &error,
                            std::optional<json::Value> model) {
  PackagePart part{module, "", ""};
  return writePackage(ArrayRef<PackagePart>(part), dir, producer, summary,
                      error, std::move(model));
}

bool deltajit::writePackage(ArrayRef<PackagePart> parts, StringRef dir,
                            StringRef producer, PackageSummary &summary,
                            std::string &error,
                            std::optional<json::Value> model,
                            std::optional<json::Value> tuning) {
  if (!replaceable(dir, error))
    return false;
  if (parts.empty()) {
    error = "no module to package";
    return false;
  }
  ModuleOp module = parts.front().module;

  // PTX file name -> text, over all parts.
  std::map<std::string, std::string> ptx;
  for (const PackagePart &part : parts)
    for (auto &[name, text] : collectPTX(ModuleOp(part.module)))
      ptx[name + part.fileSuffix] = text;
  if (ptx.empty()) {
    error = "the module holds no compiled kernels (nothing to package: no "
            "delta-rule layer was lowered)";
    return false;
  }

  // Target, from the first binary's NVVM target.
  json::Object target;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute attr : binary.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(attr))
        if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget())) {
          StringRef chip = nvvm.getChip();
          int sm = 0;
          chip.drop_front(3).take_while(llvm::isDigit).getAsInteger(10, sm);
          summary.chip = chip.str();
          target = json::Object{
              {"arch", chip}, {"sm", sm}, {"ptx_features", nvvm.getFeatures()}};
        }
  });

  // The kernels each PTX module defines; a launch may name a kernel of any
  // module (variants share identical kernels), each must be defined once.
  std::map<std::string, std::string> definedIn; // kernel -> module
  std::string kernelClash;
  for (auto &[name, text] : ptx)
    for (const std::string &k : ptxEntries(text))
      if (!definedIn.emplace(k, name).second)
        kernelClash = k;
  // Kernel modules and the kernels launches use, in launch order.
  std::map<std::string, std::vector<std::string>> kernelsOf;
  json::Array entries;
  llvm::StringSet<> seenEntries, seenKernels, hostOps;
  std::string kernelMissing;
  for (const PackagePart &part : parts) {
    ModuleOp partModule = part.module;
    bool isMain = partModule == module;
    partModule.walk([&](Operation *op) {
      auto launch = dyn_cast<delta::LaunchOp>(op);
      if (!launch) {
        if (isMain && op->getDialect() &&
            op->getDialect()->getNamespace() == "delta" &&
            !op->getParentOfType<gpu::GPUModuleOp>())
          hostOps.insert(op->getName().getStringRef());
        return;
      }
      DictionaryAttr info = launch.getLaunch();

      // One kernel (grid, block, ... in `info`) or a `launches` list.
      auto describe = [&](DictionaryAttr d, StringRef kernel) {
        auto it = definedIn.find(kernel.str());
        if (it == definedIn.end())
          kernelMissing = kernel.str();
        else if (seenKernels.insert(kernel).second)
          kernelsOf[it->second].push_back(kernel.str());
        json::Array grid, block, params;
        for (Attribute g : cast<ArrayAttr>(d.get("grid")))
          grid.push_back(cast<StringAttr>(g).getValue());
        for (Attribute b : cast<ArrayAttr>(d.get("block")))
          block.push_back(cast<IntegerAttr>(b).getInt());
        for (Attribute p : cast<ArrayAttr>(d.get("params"))) {
          auto pair = cast<ArrayAttr>(p);
          params.push_back(
              json::Object{{"name", cast<StringAttr>(pair[0]).getValue()},
                           {"type", cast<StringAttr>(pair[1]).getValue()}});
        }
        json::Object one{
            {"kernel", kernel},
            {"grid", std::move(grid)},
            {"block", std::move(block)},
            {"shared_bytes", cast<IntegerAttr>(d.get("shared_bytes")).getInt()},
            {"params", std::move(params)}};
        if (auto wait = d.getAs<BoolAttr>("programmatic_wait"))
          one["programmatic_wait"] = wait.getValue();
        return one;
      };
      json::Object entry;
      for (NamedAttribute a : cast<DictionaryAttr>(info.get("entry")))
        entry[a.getName().getValue()] = toJSON(a.getValue());
      if (!part.config.empty())
        entry["config"] = part.config;
      json::Array launches, scratch;
      if (auto list = info.getAs<ArrayAttr>("launches")) {
        for (Attribute l : list) {
          auto d = cast<DictionaryAttr>(l);
          launches.push_back(
              describe(d, cast<StringAttr>(d.get("kernel")).getValue()));
        }
      } else {
        launches.push_back(
            describe(info, launch.getKernel().getLeafReference().getValue()));
      }
      if (auto list = info.getAs<ArrayAttr>("scratch"))
        for (Attribute b : list) {
          auto pair = cast<ArrayAttr>(b);
          scratch.push_back(
              json::Object{{"name", cast<StringAttr>(pair[0]).getValue()},
                           {"bytes", cast<StringAttr>(pair[1]).getValue()}});
        }
      entry["scratch"] = std::move(scratch);
      entry["launches"] = std::move(launches);
      std::string key;
      llvm::raw_string_ostream os(key);
      os << json::Value(json::Object(entry));
      if (seenEntries.insert(key).second) {
        entries.push_back(std::move(entry));
        ++summary.numEntries;
      }
    });
  }
  if (!kernelClash.empty()) {
    error = "internal error: kernel '" + kernelClash +
            "' is defined by two kernel modules of the package";
    return false;
  }
  if (!kernelMissing.empty()) {
    error = "internal error: a launch names kernel '" + kernelMissing +
            "', which no kernel module of the package defines";
    return false;
  }
  summary.numKernels = seenKernels.size();

  // Assemble next to the destination, then rename into place.
  SmallString<256> tmp(dir);
  tmp += ".tmp-";
  tmp += std::to_string(llvm::sys::Process::getProcessId());
  llvm::sys::fs::remove_directories(tmp);
  if (std::error_code ec = llvm::sys::fs::create_directories(tmp)) {
    error = "cannot create '" + tmp.str().str() + "': " + ec.message();
    return false;
  }
  json::Array modules;
  for (auto &[name, text] : ptx) {
    if (kernelsOf[name].empty())
      continue; // every kernel of it is defined elsewhere too, or unused
    std::string file = name + ".ptx";
    SmallString<256> path(tmp);
    llvm::sys::path::append(path, file);
    if (!writeFile(path, text, error))
      return false;
    json::Array kernels;
    json::Object code;
    for (const std::string &k : kernelsOf[name]) {
      kernels.push_back(k);
      std::string c = kernelCode(text, k);
      if (!c.empty())
        code[k] = c;
    }
    modules.push_back(json::Object{
        {"file", file},
        {"sha256", hex(llvm::SHA256::hash(ArrayRef<uint8_t>(
                       (const uint8_t *)text.data(), text.size())))},
        {"kernels", std::move(kernels)},
        {"kernel_code", std::move(code)}});
  }
  json::Array host;
  for (auto &op : hostOps)
    host.push_back(op.getKey());

  // The model's weights (ml_program.global, as the frontend emits them):
  // what a checkpoint must provide, by name, shape and element type.
  json::Array weights;
  module.walk([&](Operation *op) {
    if (op->getName().getStringRef() != "ml_program.global")
      return;
    auto name = op->getAttrOfType<StringAttr>("sym_name");
    auto typeAttr = op->getAttrOfType<TypeAttr>("type");
    auto type = typeAttr ? dyn_cast<RankedTensorType>(typeAttr.getValue())
                         : RankedTensorType();
    if (!name || !type || !type.hasStaticShape())
      return;
    json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    std::string dtype;
    llvm::raw_string_ostream ds(dtype);
    ds << type.getElementType();
    weights.push_back(json::Object{{"name", name.getValue()},
                                   {"shape", std::move(shape)},
                                   {"dtype", dtype}});
  });
  json::Object manifest{{"format", "deltajit-package"},
                        {"format_version", 1},
                        {"producer", producer},
                        {"target", std::move(target)},
                        {"modules", std::move(modules)},
                        {"entries", std::move(entries)},
                        {"host_ops_not_compiled", std::move(host)},
                        {"weights", std::move(weights)}};
  if (model)
    manifest["model"] = std::move(*model);
  if (tuning)
    manifest["tuning"] = std::move(*tuning);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", json::Value(std::move(manifest))) << "\n";
  SmallString<256> manifestPath(tmp);
  llvm::sys::path::append(manifestPath, "manifest.json");
  if (!writeFile(manifestPath, text, error))
    return false;

  if (llvm::sys::fs::exists(dir))
    if (std::error_code ec = llvm::sys::fs::remove_directories(dir)) {
      error = "cannot replace '" + dir.str() + "': " + ec.message();
      return false;
    }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, dir)) {
    error = "cannot move the package into '" + dir.str() + "': " + ec.message();
    return false;
  }
  return true;
}
