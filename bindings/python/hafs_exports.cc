// File: bindings/python/hafs_exports.cc
// -----------------------------------------------------------------------------
// Python 3 bindings (pybind11) for the exports manager's pure functions
// (libhafs/exports): parse + canonicalize an exports(5) text into etab lines,
// lint it, match a client address against it, render NFS-Ganesha config.
//
// Every function takes the text of ONE exports file (str or bytes) and the
// name to report it under; nothing is read from disk and no DNS is done:
//   * host names resolve only through `hosts` (an /etc/hosts-format text;
//     default: names are kept as written, lower-cased);
//   * paths are taken as written unless check_paths=True, which resolves them
//     with realpath(3) and reports missing ones, like exportfs (this reads the
//     real file system).
// Texts are UTF-8; bytes that are not (exports files may hold any path) come
// back as surrogate escapes, so str -> bytes -> str round-trips exactly.
//
// Thread-safety: the functions are reentrant (they hold the GIL throughout;
// each call is microseconds to milliseconds).
//
// Example (Python):
//   import hafs_exports as ex
//   ex.etab("/srv 10.0.0.0/24(rw,no_subtree_check)\n")
//   # ['/srv\t10.0.0.0/24(rw,sync,wdelay,...)']
//   [d["code"] for d in ex.lint("/srv host (rw)\n")]
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libhafs/exports/exports.h"
#include "libhafs/exports/lint.h"
#include "libhafs/exports/match.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"

namespace hafs::bindings {
namespace {

namespace py = pybind11;
namespace ex = hafs::exports;

// str (UTF-8, surrogateescape) or bytes -> bytes.
std::string ToBytes(const py::handle& h, const char* what) {
  if (PyBytes_Check(h.ptr())) {
    return std::string(PyBytes_AS_STRING(h.ptr()),
                       static_cast<size_t>(PyBytes_GET_SIZE(h.ptr())));
  }
  if (PyUnicode_Check(h.ptr())) {
    PyObject* b = PyUnicode_AsEncodedString(h.ptr(), "utf-8", "surrogateescape");
    if (b == nullptr) throw py::error_already_set();
    py::bytes owned = py::reinterpret_steal<py::bytes>(b);
    return std::string(owned);
  }
  throw py::type_error(std::string(what) + " must be str or bytes, not " +
                       std::string(py::str(py::type::of(h).attr("__name__"))));
}

// bytes -> str (UTF-8, surrogateescape).
py::str Str(const std::string& s) {
  PyObject* u = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()),
                                     "surrogateescape");
  if (u == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(u);
}

// The FileSystem port for one in-memory exports file. Paths to export are
// resolved on the real file system only with check_paths.
class TextFileSystem : public ex::FileSystem {
 public:
  TextFileSystem(std::string name, std::string text, bool check_paths)
      : name_(std::move(name)), text_(std::move(text)), check_paths_(check_paths) {}

  std::optional<std::string> RealPath(const std::string& path) const override {
    if (!check_paths_) return std::nullopt;  // kept as written
    return real_.RealPath(path);
  }
  StatResult Stat(const std::string& path) const override {
    if (check_paths_) return real_.Stat(path);
    StatResult r;
    r.err = ENOENT;
    return r;
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    if (path == name_) return text_;
    return absl::NotFoundError(path + ": not the exports text given");
  }
  absl::StatusOr<std::vector<DirEntry>> ListDir(
      const std::string& path) const override {
    return absl::NotFoundError(path);
  }

 private:
  const std::string name_;
  const std::string text_;
  const bool check_paths_;
  ex::RealFileSystem real_;
};

// The common keyword arguments of every function.
struct Input {
  std::string name;
  std::unique_ptr<TextFileSystem> fs;
  std::unique_ptr<ex::HostResolver> resolver;
  ex::TableOptions table;
  uint32_t secinfo_flags = ex::kOldSecinfoFlags;
};

Input MakeInput(const py::object& text, const std::string& filename,
                const py::object& hosts, bool check_paths, bool xprtsec,
                bool kernel_secinfo) {
  if (filename.empty()) throw py::value_error("filename must not be empty");
  Input in;
  in.name = filename;
  in.fs = std::make_unique<TextFileSystem>(filename, ToBytes(text, "text"),
                                           check_paths);
  if (hosts.is_none()) {
    in.resolver = std::make_unique<ex::NoDnsResolver>();
  } else {
    in.resolver = std::make_unique<ex::HostsFileResolver>(ToBytes(hosts, "hosts"));
  }
  in.secinfo_flags = kernel_secinfo ? ex::kModernSecinfoFlags : ex::kOldSecinfoFlags;
  in.table.parse.accept_xprtsec = xprtsec;
  in.table.parse.secinfo_flags = in.secinfo_flags;
  in.table.validate_paths = check_paths;
  return in;
}

ex::ExportTable Build(const Input& in) {
  return ex::BuildTable({ex::Source::File(in.name)}, *in.fs, *in.resolver, in.table);
}

py::list Etab(const py::object& text, const std::string& filename,
              const py::object& hosts, bool check_paths, bool xprtsec,
              bool kernel_secinfo) {
  Input in = MakeInput(text, filename, hosts, check_paths, xprtsec, kernel_secinfo);
  const ex::ExportTable t = Build(in);
  py::list out;
  for (const ex::Export& e : t.exports) {
    out.append(Str(ex::RenderEtabLine(t, e, in.secinfo_flags)));
  }
  return out;
}

py::dict DiagnosticDict(const ex::Diagnostic& d) {
  py::dict r;
  r["file"] = Str(d.pos.file);
  r["line"] = d.pos.line;
  r["col"] = d.pos.col;
  r["severity"] =
      d.severity == ex::Diagnostic::Severity::kError ? "error" : "warning";
  r["code"] = Str(d.code);
  r["message"] = Str(d.message);
  // The hint as `hafsctl exports check` prints it (a default one when the
  // diagnostic has none), and that whole text.
  const std::string text = ex::FormatDiagnostic(d);
  const size_t h = text.rfind("\n  hint: ");
  r["hint"] = Str(h == std::string::npos
                      ? d.hint
                      : text.substr(h + 9, text.size() - (h + 9) - 1));
  r["text"] = Str(text);
  return r;
}

py::list Lint(const py::object& text, const std::string& filename,
              const py::object& hosts, bool check_paths, bool xprtsec,
              bool kernel_secinfo) {
  Input in = MakeInput(text, filename, hosts, check_paths, xprtsec, kernel_secinfo);
  ex::LintOptions lo;
  lo.table = in.table;
  const ex::LintResult r = ex::Lint({ex::Source::File(in.name)}, *in.fs,
                                    *in.resolver, lo);
  py::list out;
  for (const ex::Diagnostic& d : r.diagnostics) out.append(DiagnosticDict(d));
  return out;
}

py::dict EntryDict(const ex::ExportTable& t, int index) {
  const ex::Export& e = t.exports[index];
  const ex::Client& c = t.clients[e.client];
  py::dict r;
  r["client"] = Str(c.hostname);
  r["kind"] = ex::ClientKindName(c.kind);
  r["file"] = Str(e.entry.client_pos.file);
  r["line"] = e.entry.client_pos.line;
  return r;
}

py::list Match(const py::object& text, const std::string& address,
               const std::string& filename, const std::string& hostname,
               const std::vector<std::string>& netgroups, const py::object& hosts,
               bool xprtsec) {
  ex::MatchQuery q;
  q.addr = ex::ParseIp(address);
  if (!q.addr) {
    throw py::value_error("\"" + address +
                          "\" is not an IP address (give the client's numeric "
                          "address; use hostname= for its name)");
  }
  q.hostname = hostname;
  for (std::string g : netgroups) {
    if (!g.empty() && g[0] == '@') g.erase(0, 1);
    q.netgroups.push_back(std::move(g));
  }
  Input in = MakeInput(text, filename, hosts, /*check_paths=*/false, xprtsec,
                       /*kernel_secinfo=*/false);
  const ex::ExportTable t = Build(in);
  const ex::Matcher m(t);
  py::list out;
  for (const ex::PathMatch& pm : m.Match(q)) {
    py::dict r = EntryDict(t, pm.winner);
    r["path"] = Str(pm.path);
    r["options"] = Str(ex::RenderEtabOptions(t.exports[pm.winner].entry.opts));
    py::list shadowed;
    for (int s : pm.shadowed) shadowed.append(EntryDict(t, s));
    r["shadowed"] = shadowed;
    out.append(r);
  }
  return out;
}

py::str Ganesha(const py::object& text, const std::string& filename,
                const py::object& hosts, bool check_paths, bool xprtsec) {
  Input in = MakeInput(text, filename, hosts, check_paths, xprtsec,
                       /*kernel_secinfo=*/false);
  return Str(ex::RenderGanesha(Build(in)).text);
}

constexpr char kDefaultName[] = "/etc/exports";

}  // namespace
}  // namespace hafs::bindings

PYBIND11_MODULE(hafs_exports, m) {
  namespace py = pybind11;
  namespace b = hafs::bindings;
  using py::arg;
  m.doc() =
      "hafs exports manager: exports(5) exactly as nfs-utils 2.6.2 reads it.\n"
      "Pure functions over the text of one exports file (str or bytes); no "
      "file is read and no DNS is done (see hosts= and check_paths=).";

  m.def("etab", &b::Etab, arg("text"), arg("filename") = b::kDefaultName,
        py::kw_only(), arg("hosts") = py::none(), arg("check_paths") = false,
        arg("xprtsec") = false, arg("kernel_secinfo") = false,
        "The /var/lib/nfs/etab lines `exportfs -ra` would write for this text "
        "(canonical, fully expanded options, exportfs order), as a list of "
        "str without newlines. Entries after a bad one are ignored, as by "
        "nfs-utils; lint() says why.");
  m.def("lint", &b::Lint, arg("text"), arg("filename") = b::kDefaultName,
        py::kw_only(), arg("hosts") = py::none(), arg("check_paths") = false,
        arg("xprtsec") = false, arg("kernel_secinfo") = false,
        "Lint the text: a list of dicts with file, line, col (1-based), "
        "severity ('error' or 'warning'), code (stable id), message, hint and "
        "text (the `hafsctl exports check` form), sorted by position. Empty "
        "when clean.");
  m.def("match", &b::Match, arg("text"), arg("address"),
        arg("filename") = b::kDefaultName, py::kw_only(), arg("hostname") = "",
        arg("netgroups") = std::vector<std::string>{}, arg("hosts") = py::none(),
        arg("xprtsec") = false,
        "Which entries apply to the client at `address` (knfsd precedence: "
        "host > subnet > wildcard > netgroup > anonymous; file order within a "
        "kind): one dict per matching path with path, client, kind, options "
        "(etab option text), file, line and shadowed (the other matching "
        "entries). `hostname` is the client's reverse name (for names and "
        "wildcards); `netgroups` the netgroups it is in. ValueError if "
        "`address` is not an IP address.");
  m.def("ganesha", &b::Ganesha, arg("text"), arg("filename") = b::kDefaultName,
        py::kw_only(), arg("hosts") = py::none(), arg("check_paths") = false,
        arg("xprtsec") = false,
        "NFS-Ganesha EXPORT blocks (NFSv4 only) for the text, as one str.");
}
