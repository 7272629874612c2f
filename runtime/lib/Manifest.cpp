//===- Manifest.cpp - manifest.json parsing, validation, package reading --===//

#include "Manifest.h"

#include "Error.h"
#include "Sha256.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace deltajit {

using nlohmann::json;

const char *paramTypeName(ParamType t) {
  switch (t) {
  case ParamType::Ptr:
    return "ptr";
  case ParamType::I32:
    return "i32";
  case ParamType::I64:
    return "i64";
  case ParamType::F32:
    return "f32";
  }
  return "?";
}

const char *symbolKindName(SymbolKind k) {
  switch (k) {
  case SymbolKind::Ptr:
    return "pointer";
  case SymbolKind::Int:
    return "integer";
  case SymbolKind::Float:
    return "float";
  }
  return "?";
}

const char *symbolKindArticle(SymbolKind k) {
  switch (k) {
  case SymbolKind::Ptr:
    return "a pointer";
  case SymbolKind::Int:
    return "an integer";
  case SymbolKind::Float:
    return "a float";
  }
  return "?";
}

const std::map<std::string, SymbolKind> *opSymbols(const std::string &op) {
  static const std::map<std::string, SymbolKind> forward = [] {
    std::map<std::string, SymbolKind> m;
    for (const char *p : {"q", "k", "v", "beta", "o", "h0", "ht", "cu_seqlens",
                          "chunk_offsets", "chunk_table", "chunk_spans"})
      m[p] = SymbolKind::Ptr;
    for (const char *i :
         {"B", "T", "H", "HV", "DK", "DV", "N", "T_total", "total_chunks",
          "max_chunks", "segment_chunks", "has_h0", "has_ht"})
      m[i] = SymbolKind::Int;
    m["scale"] = SymbolKind::Float;
    return m;
  }();
  static const std::map<std::string, SymbolKind> decode = [] {
    std::map<std::string, SymbolKind> m;
    for (const char *p : {"q", "k", "v", "beta", "o", "state_in", "state_out"})
      m[p] = SymbolKind::Ptr;
    for (const char *i : {"N", "H", "HV", "DK", "DV"})
      m[i] = SymbolKind::Int;
    m["scale"] = SymbolKind::Float;
    return m;
  }();
  if (op == "delta_rule_forward")
    return &forward;
  if (op == "delta_rule_decode")
    return &decode;
  return nullptr;
}

std::string EntrySpec::describe() const {
  std::ostringstream os;
  os << op;
  if (dtype)
    os << " dtype=" << *dtype;
  if (dk)
    os << " dk=" << *dk;
  if (dv)
    os << " dv=" << *dv;
  if (chunk)
    os << " chunk=" << *chunk;
  if (useQkL2norm)
    os << " use_qk_l2norm=" << (*useQkL2norm ? "true" : "false");
  if (config)
    os << " config=" << *config;
  return os.str();
}

namespace {

std::string child(const std::string &path, const std::string &key) {
  return path.empty() ? key : path + "." + key;
}
std::string child(const std::string &path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

bool isIdentifier(const std::string &s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

/// Walks the JSON document; every error names the file and field path.
class ManifestParser {
public:
  explicit ManifestParser(const std::string &fileName) : file_(fileName) {}

  Manifest parse(std::string_view text) {
    json root;
    try {
      root = json::parse(text.begin(), text.end());
    } catch (const json::parse_error &e) {
      fail(DJ_ERROR_PACKAGE, file_, ": not valid JSON: ", e.what());
    }
    if (!root.is_object())
      bad("", "the document must be a JSON object, found " + show(root));

    Manifest m;
    std::string format = getString(root, "", "format");
    if (format != kPackageFormat)
      bad("format", "expected \"" + std::string(kPackageFormat) +
                        "\", found \"" + format +
                        "\" (not a deltajit package)");
    int64_t version = getInt(root, "", "format_version");
    if (version > kPackageFormatVersion)
      bad("format_version", "package format version " +
                                std::to_string(version) +
                                " is newer than this runtime supports (" +
                                std::to_string(kPackageFormatVersion) +
                                "): use a newer runtime or an older compiler");
    if (version < 1)
      bad("format_version", "invalid version " + std::to_string(version));
    m.formatVersion = static_cast<int>(version);
    if (root.contains("producer"))
      m.producer = getString(root, "", "producer");

    const json &target = getObject(root, "", "target");
    m.target.arch = getString(target, "target", "arch");
    m.target.sm = static_cast<int>(getInt(target, "target", "sm", 1, 10000));
    // Informational (the JIT reads the PTX's own .version): optional.
    if (target.contains("ptx_version"))
      m.target.ptxVersion = getString(target, "target", "ptx_version");
    checkArch(m.target);

    const json &modules = getArray(root, "", "modules");
    for (size_t i = 0; i < modules.size(); ++i)
      m.modules.push_back(parseModule(modules[i], child("modules", i), m));

    const json &entries = getArray(root, "", "entries");
    for (size_t i = 0; i < entries.size(); ++i)
      m.entries.push_back(parseEntry(entries[i], child("entries", i)));

    if (root.contains("tuning")) {
      const json &tuning = getArray(root, "", "tuning");
      for (size_t i = 0; i < tuning.size(); ++i)
        m.tuning.push_back(parseTuning(tuning[i], child("tuning", i)));
    }
    return m;
  }

private:
  [[noreturn]] void bad(const std::string &path, const std::string &what) {
    if (path.empty())
      fail(DJ_ERROR_PACKAGE, file_, ": ", what);
    fail(DJ_ERROR_PACKAGE, file_, ": ", path, ": ", what);
  }

  static std::string show(const json &j) {
    std::string text = j.dump();
    if (text.size() > 40)
      text = text.substr(0, 37) + "...";
    return std::string(j.type_name()) + " " + text;
  }

  const json &get(const json &obj, const std::string &path,
                  const std::string &key) {
    auto it = obj.find(key);
    if (it == obj.end())
      bad(child(path, key), "missing required field");
    return *it;
  }

  std::string getString(const json &obj, const std::string &path,
                        const std::string &key) {
    const json &v = get(obj, path, key);
    if (!v.is_string())
      bad(child(path, key), "expected a string, found " + show(v));
    std::string s = v.get<std::string>();
    if (s.empty())
      bad(child(path, key), "must not be empty");
    return s;
  }

  int64_t asInt(const json &v, const std::string &path, int64_t lo,
                int64_t hi) {
    if (!v.is_number_integer())
      bad(path, "expected an integer, found " + show(v));
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      bad(path, "value " + v.dump() + " is out of range");
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi)
      bad(path, "value " + std::to_string(x) + " is out of range [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }

  int64_t getInt(const json &obj, const std::string &path,
                 const std::string &key,
                 int64_t lo = std::numeric_limits<int64_t>::min(),
                 int64_t hi = std::numeric_limits<int64_t>::max()) {
    return asInt(get(obj, path, key), child(path, key), lo, hi);
  }

  bool getBool(const json &obj, const std::string &path,
               const std::string &key) {
    const json &v = get(obj, path, key);
    if (!v.is_boolean())
      bad(child(path, key), "expected a boolean, found " + show(v));
    return v.get<bool>();
  }

  const json &getObject(const json &obj, const std::string &path,
                        const std::string &key) {
    const json &v = get(obj, path, key);
    if (!v.is_object())
      bad(child(path, key), "expected an object, found " + show(v));
    return v;
  }

  const json &getArray(const json &obj, const std::string &path,
                       const std::string &key) {
    const json &v = get(obj, path, key);
    if (!v.is_array())
      bad(child(path, key), "expected an array, found " + show(v));
    return v;
  }

  void checkArch(const TargetSpec &t) {
    const std::string &a = t.arch;
    size_t i = 3;
    bool ok = a.rfind("sm_", 0) == 0 && a.size() > 3;
    int number = 0;
    while (ok && i < a.size() &&
           std::isdigit(static_cast<unsigned char>(a[i])) && number < 100000)
      number = number * 10 + (a[i++] - '0');
    ok = ok && i > 3 &&
         (i == a.size() || (i + 1 == a.size() && (a[i] == 'a' || a[i] == 'f')));
    if (!ok)
      bad("target.arch", "expected 'sm_<number>' with an optional 'a' or 'f' "
                         "suffix, found '" +
                             a + "'");
    if (number != t.sm)
      bad("target.arch",
          "'" + a + "' does not match target.sm " + std::to_string(t.sm));
  }

  ModuleSpec parseModule(const json &j, const std::string &path, Manifest &m) {
    if (!j.is_object())
      bad(path, "expected an object, found " + show(j));
    ModuleSpec mod;
    mod.file = getString(j, path, "file");
    if (mod.file[0] == '/' || mod.file.find("..") != std::string::npos)
      bad(child(path, "file"), "'" + mod.file +
                                   "' must be a path inside the package "
                                   "directory (relative, no '..')");
    std::string sha = getString(j, path, "sha256");
    if (sha.size() != 64 ||
        sha.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      bad(child(path, "sha256"),
          "expected 64 hexadecimal digits, found '" + sha + "'");
    for (char &c : sha)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    mod.sha256 = sha;
    const json &kernels = getArray(j, path, "kernels");
    size_t moduleIndex = m.modules.size();
    for (size_t i = 0; i < kernels.size(); ++i) {
      std::string kpath = child(child(path, "kernels"), i);
      if (!kernels[i].is_string() || kernels[i].get<std::string>().empty())
        bad(kpath, "expected a kernel name (a non-empty string), found " +
                       show(kernels[i]));
      std::string name = kernels[i].get<std::string>();
      if (!kernelModule_.emplace(name, moduleIndex).second)
        bad(kpath, "kernel '" + name + "' is listed twice");
      mod.kernels.push_back(name);
    }
    if (j.contains("kernel_code")) {
      std::string cpath = child(path, "kernel_code");
      const json &code = j.at("kernel_code");
      if (!code.is_object())
        bad(cpath, "expected an object (kernel name -> code fingerprint), "
                   "found " +
                       show(code));
      for (auto it = code.begin(); it != code.end(); ++it) {
        if (!it.value().is_string() || it.value().get<std::string>().empty())
          bad(child(cpath, it.key()),
              "expected a code fingerprint (a non-empty string), found " +
                  show(it.value()));
        if (std::find(mod.kernels.begin(), mod.kernels.end(), it.key()) ==
            mod.kernels.end())
          bad(child(cpath, it.key()), "names no kernel of this module");
        mod.kernelCode[it.key()] = it.value().get<std::string>();
      }
    }
    return mod;
  }

  /// Parses a formula and checks its symbols against the op's table.
  Formula parseFormula(const json &v, const std::string &path,
                       const std::map<std::string, SymbolKind> *symbols,
                       const std::set<std::string> &scratchNames) {
    if (!v.is_string())
      bad(path, "expected a formula string, found " + show(v));
    Formula f;
    try {
      f = Formula::parse(v.get<std::string>());
    } catch (const FormulaError &e) {
      bad(path, e.what());
    }
    for (const std::string &s : f.symbols()) {
      if (scratchNames.count(s))
        bad(path, "symbol '" + s +
                      "' is a scratch buffer (a pointer), not an integer");
      if (!symbols)
        continue;
      auto it = symbols->find(s);
      if (it == symbols->end())
        bad(path, "unknown symbol '" + s + "'");
      if (it->second != SymbolKind::Int)
        bad(path, "symbol '" + s + "' is " + symbolKindArticle(it->second) +
                      ", not an integer");
    }
    return f;
  }

  EntrySpec parseEntry(const json &j, const std::string &path) {
    if (!j.is_object())
      bad(path, "expected an object, found " + show(j));
    EntrySpec e;
    e.path = path;
    e.op = getString(j, path, "op");
    const auto *symbols = opSymbols(e.op);
    bool known = symbols != nullptr;
    bool isForward = e.op == "delta_rule_forward";

    if (known || j.contains("dtype"))
      e.dtype = getString(j, path, "dtype");
    if (known || j.contains("dk"))
      e.dk = getInt(j, path, "dk", 1, 1 << 20);
    if (known || j.contains("dv"))
      e.dv = getInt(j, path, "dv", 1, 1 << 20);
    if (isForward || j.contains("chunk"))
      e.chunk = getInt(j, path, "chunk", 1, 1 << 20);
    if (known || j.contains("use_qk_l2norm"))
      e.useQkL2norm = getBool(j, path, "use_qk_l2norm");
    if (j.contains("tile"))
      getObject(j, path, "tile");
    if (j.contains("config"))
      e.config = getString(j, path, "config");
    if (j.contains("segment_chunks")) {
      e.segmentChunks = getInt(j, path, "segment_chunks", 2, 1 << 20);
      if (*e.segmentChunks % 2 != 0)
        bad(path + ".segment_chunks",
            "must be even (a segment's first chunk computes in the first of "
            "the scan's double buffers), got " +
                std::to_string(*e.segmentChunks));
    }

    std::set<std::string> scratchNames;
    std::vector<const json *> scratchBytes;
    if (j.contains("scratch")) {
      const json &scratch = getArray(j, path, "scratch");
      for (size_t i = 0; i < scratch.size(); ++i) {
        std::string spath = child(child(path, "scratch"), i);
        if (!scratch[i].is_object())
          bad(spath, "expected an object, found " + show(scratch[i]));
        ScratchSpec s;
        s.name = getString(scratch[i], spath, "name");
        if (!isIdentifier(s.name))
          bad(child(spath, "name"), "'" + s.name + "' is not an identifier");
        if (symbols && symbols->count(s.name))
          bad(child(spath, "name"), "'" + s.name +
                                        "' is already a symbol the runtime "
                                        "binds for " +
                                        e.op);
        if (!scratchNames.insert(s.name).second)
          bad(child(spath, "name"),
              "scratch buffer '" + s.name + "' is declared twice");
        e.scratch.push_back(std::move(s));
        scratchBytes.push_back(&get(scratch[i], spath, "bytes"));
      }
      for (size_t i = 0; i < e.scratch.size(); ++i)
        e.scratch[i].bytes = parseFormula(
            *scratchBytes[i], child(child(child(path, "scratch"), i), "bytes"),
            symbols, scratchNames);
    }

    const json &launches = getArray(j, path, "launches");
    if (launches.empty())
      bad(child(path, "launches"), "an entry needs at least one launch");
    for (size_t i = 0; i < launches.size(); ++i)
      e.launches.push_back(parseLaunch(launches[i],
                                       child(child(path, "launches"), i),
                                       symbols, scratchNames, e.op));
    return e;
  }

  TuningTableSpec parseTuning(const json &j, const std::string &path) {
    if (!j.is_object())
      bad(path, "expected an object, found " + show(j));
    TuningTableSpec t;
    const json &gpu = getObject(j, path, "gpu");
    std::string gpath = child(path, "gpu");
    t.gpuName = getString(gpu, gpath, "name");
    t.computeCapability = getString(gpu, gpath, "compute_capability");
    const json &rows = getArray(j, path, "table");
    for (size_t i = 0; i < rows.size(); ++i) {
      std::string rpath = child(child(path, "table"), i);
      const json &r = rows[i];
      if (!r.is_object())
        bad(rpath, "expected an object, found " + show(r));
      TuningRowSpec row;
      row.op = getString(r, rpath, "op");
      row.dtype = getString(r, rpath, "dtype");
      row.dk = getInt(r, rpath, "dk", 1, 1 << 20);
      row.dv = getInt(r, rpath, "dv", 1, 1 << 20);
      if (r.contains("chunk") && !r.at("chunk").is_null())
        row.chunk = getInt(r, rpath, "chunk", 1, 1 << 20);
      row.useQkL2norm = getBool(r, rpath, "use_qk_l2norm");
      row.bucket = getString(r, rpath, "bucket");
      row.config = getString(r, rpath, "config");
      t.rows.push_back(std::move(row));
    }
    return t;
  }

  LaunchSpec parseLaunch(const json &j, const std::string &path,
                         const std::map<std::string, SymbolKind> *symbols,
                         const std::set<std::string> &scratchNames,
                         const std::string &op) {
    if (!j.is_object())
      bad(path, "expected an object, found " + show(j));
    LaunchSpec l;
    l.path = path;
    l.kernel = getString(j, path, "kernel");
    auto it = kernelModule_.find(l.kernel);
    if (it == kernelModule_.end())
      bad(child(path, "kernel"),
          "kernel '" + l.kernel + "' is not listed in any module's kernels");
    l.module = it->second;

    const json &grid = getArray(j, path, "grid");
    if (grid.size() != 3)
      bad(child(path, "grid"),
          "expected 3 formulas, found " + std::to_string(grid.size()));
    for (size_t d = 0; d < 3; ++d)
      l.grid[d] = parseFormula(grid[d], child(child(path, "grid"), d), symbols,
                               scratchNames);

    const json &block = getArray(j, path, "block");
    if (block.size() != 3)
      bad(child(path, "block"),
          "expected 3 integers, found " + std::to_string(block.size()));
    int64_t threads = 1;
    for (size_t d = 0; d < 3; ++d) {
      l.block[d] = static_cast<unsigned>(
          asInt(block[d], child(child(path, "block"), d), 1, 1024));
      threads *= l.block[d];
    }
    if (threads > 1024)
      bad(child(path, "block"),
          std::to_string(threads) + " threads per block (the maximum is 1024)");
    l.sharedBytes = static_cast<unsigned>(getInt(
        j, path, "shared_bytes", 0, std::numeric_limits<int32_t>::max()));
    if (j.contains("programmatic_wait"))
      l.programmaticWait = getBool(j, path, "programmatic_wait");

    const json &params = getArray(j, path, "params");
    for (size_t i = 0; i < params.size(); ++i) {
      std::string ppath = child(child(path, "params"), i);
      if (!params[i].is_object())
        bad(ppath, "expected an object, found " + show(params[i]));
      ParamSpec p;
      p.name = getString(params[i], ppath, "name");
      std::string type = getString(params[i], ppath, "type");
      if (type == "ptr")
        p.type = ParamType::Ptr;
      else if (type == "i32")
        p.type = ParamType::I32;
      else if (type == "i64")
        p.type = ParamType::I64;
      else if (type == "f32")
        p.type = ParamType::F32;
      else
        bad(child(ppath, "type"),
            "unknown type '" + type + "' (expected ptr, i32, i64 or f32)");
      SymbolKind want = p.type == ParamType::Ptr   ? SymbolKind::Ptr
                        : p.type == ParamType::F32 ? SymbolKind::Float
                                                   : SymbolKind::Int;
      std::optional<SymbolKind> have;
      if (scratchNames.count(p.name))
        have = SymbolKind::Ptr;
      else if (symbols) {
        auto s = symbols->find(p.name);
        if (s == symbols->end())
          bad(child(ppath, "name"), "'" + p.name +
                                        "' is neither a symbol the runtime "
                                        "binds for " +
                                        op +
                                        " nor a scratch buffer of the entry");
        have = s->second;
      }
      if (have && *have != want)
        bad(ppath, "'" + p.name + "' is " + symbolKindArticle(*have) +
                       " but the parameter type is " + type);
      l.params.push_back(std::move(p));
    }
    return l;
  }

  const std::string &file_;
  std::map<std::string, size_t> kernelModule_;
};

std::string readFile(const std::string &path, const char *what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(DJ_ERROR_PACKAGE, "cannot open ", what, " '", path,
         "': ", std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad())
    fail(DJ_ERROR_PACKAGE, "cannot read ", what, " '", path, "'");
  return os.str();
}

} // namespace

Manifest parseManifest(std::string_view text, const std::string &fileName) {
  return ManifestParser(fileName).parse(text);
}

PackageContents readPackage(const std::string &dir) {
  PackageContents p;
  p.dir = dir;
  std::string manifestPath = dir + "/manifest.json";
  std::string text = readFile(manifestPath, "package manifest");
  p.manifest = parseManifest(text, manifestPath);
  for (size_t i = 0; i < p.manifest.modules.size(); ++i) {
    const ModuleSpec &m = p.manifest.modules[i];
    std::string path = dir + "/" + m.file;
    std::string bytes = readFile(path, "module");
    std::string actual = Sha256::hexHash(bytes);
    if (actual != m.sha256)
      fail(DJ_ERROR_PACKAGE, manifestPath, ": modules[", i, "].sha256: '", path,
           "' (", bytes.size(), " bytes) has sha256 ", actual,
           " but the manifest says ", m.sha256,
           " (file corrupted, truncated or replaced)");
    p.moduleTexts.push_back(std::move(bytes));
  }
  return p;
}

void checkTargetCompatible(const TargetSpec &target, int ccMajor, int ccMinor,
                           const std::string &fileName) {
  int cc = ccMajor * 10 + ccMinor;
  char suffix = target.arch.back();
  std::string device = "compute capability " + std::to_string(ccMajor) + "." +
                       std::to_string(ccMinor);
  auto incompatible = [&](const std::string &rule) {
    fail(DJ_ERROR_PACKAGE, fileName, ": target.arch: the package targets ",
         target.arch, ", which ", rule, "; this device has ", device,
         " (compile the package for sm_", cc, " or a plain older sm_XX)");
  };
  if (suffix == 'a') {
    if (cc != target.sm)
      incompatible("runs only on compute capability " +
                   std::to_string(target.sm / 10) + "." +
                   std::to_string(target.sm % 10) +
                   " (arch-specific 'a' features)");
  } else if (suffix == 'f') {
    if (ccMajor != target.sm / 10 || ccMinor < target.sm % 10)
      incompatible("runs only on compute capability " +
                   std::to_string(target.sm / 10) + ".x with x >= " +
                   std::to_string(target.sm % 10) + " (family 'f' features)");
  } else if (cc < target.sm) {
    incompatible("needs compute capability " + std::to_string(target.sm / 10) +
                 "." + std::to_string(target.sm % 10) + " or newer");
  }
}

} // namespace deltajit
