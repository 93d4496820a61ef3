// hafsctl create-md | dump-md | restore-md | show-gi | apply-al | wipe-md:
// the drbdmeta-like verbs for hafs on-disk metadata (libhafs/meta). They work
// on a file or block device through UringDevice (io_uring + O_DIRECT).
//
// Exit status: 0 OK; 1 I/O or other error; 2 no metadata found; 3 refused:
// wrong format version, wrong device (size/uuid), metadata of another node,
// metadata already present; 4 device too small; 64 usage error.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cmd/hafsctl/commands.h"
#include "libhafs/io/uring_device.h"
#include "libhafs/meta/dump.h"
#include "libhafs/meta/meta_store.h"

namespace hafs::cli {
namespace {

using ::hafs::meta::MdKind;
using ::hafs::meta::MetaStore;

struct Common {
  std::string path;
  bool external = false;
  int index = -1;
  int64_t node_id = -1;  // -1: not given
};

int ExitFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kNotFound:
      return 2;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 3;
    case absl::StatusCode::kOutOfRange:
      return 4;
    default:
      return 1;
  }
}

int Fail(absl::string_view verb, const absl::Status& s) {
  std::cerr << "hafsctl " << verb << ": " << s.message() << "\n";
  return ExitFor(s);
}

// "4096", "64M", "10G", "1T" (binary units).
absl::StatusOr<uint64_t> ParseSize(const std::string& text) {
  std::string t = absl::AsciiStrToUpper(text);
  uint64_t mult = 1;
  if (!t.empty()) {
    const char c = t.back();
    const int shift = c == 'K' ? 10 : c == 'M' ? 20 : c == 'G' ? 30 : c == 'T' ? 40 : 0;
    if (shift != 0) {
      mult = uint64_t{1} << shift;
      t.pop_back();
    }
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(t, &v) || v > UINT64_MAX / mult) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size '", text, "' (hint: bytes, or a K/M/G/T suffix)"));
  }
  return v * mult;
}

void AddCommon(CLI::App* cmd, Common* c, bool node_id_is_expected) {
  cmd->add_option("device", c->path, "file or block device holding the metadata")->required();
  cmd->add_flag("--external", c->external,
                "metadata on a separate device (default: internal, at the end)");
  cmd->add_option("--index", c->index,
                  "external metadata slot (128 MiB each); -1 = the whole device");
  cmd->add_option("--node-id", c->node_id,
                  node_id_is_expected ? "refuse metadata of any other node"
                                      : "this node's id (stored in the metadata)");
}

absl::StatusOr<std::unique_ptr<io::UringDevice>> OpenDevice(const std::string& path,
                                                            bool read_only,
                                                            uint64_t create_size = 0) {
  io::UringDeviceOptions o;
  o.path = path;
  o.read_only = read_only;
  o.queue_depth = 32;
  if (create_size > 0) {
    o.create = true;
    o.size_bytes = create_size;
  }
  return io::UringDevice::Open(o);
}

meta::MetaOpenOptions OpenOptions(const Common& c, bool read_only) {
  meta::MetaOpenOptions o;
  o.kind = c.external ? MdKind::kExternal : MdKind::kInternal;
  o.external_index = c.external ? c.index : -1;
  if (c.node_id >= 0) o.expect_node_id = static_cast<uint32_t>(c.node_id);
  o.read_only = read_only;
  return o;
}

}  // namespace

void RegisterMetaCommands(CLI::App& app, int* exit_code) {
  // create-md
  {
    auto* c = new Common;
    auto* size = new std::string;
    auto* data_size = new std::string;
    auto* al_extents = new uint32_t(1237);
    auto* ring = new uint32_t(8);
    auto* uuid = new std::string;
    auto* force = new bool(false);
    CLI::App* cmd = app.add_subcommand("create-md", "write fresh metadata (superblock, empty AL, clear bitmap)");
    AddCommon(cmd, c, false);
    cmd->add_option("--size", *size, "create/extend the file to this size first (e.g. 1G)");
    cmd->add_option("--data-size", *data_size, "external: size of the data device (e.g. 100G)");
    cmd->add_option("--al-extents", *al_extents, "activity-log hot extents of 4 MiB (default 1237)");
    cmd->add_option("--al-ring-blocks", *ring, "AL ring transactions of 4 KiB (default 8)");
    cmd->add_option("--uuid", *uuid, "metadata uuid in hex (default: random)");
    cmd->add_flag("--force", *force, "overwrite existing metadata");
    cmd->callback([=] {
      const char* verb = "create-md";
      uint64_t sz = 0;
      if (!size->empty()) {
        auto s = ParseSize(*size);
        if (!s.ok()) return void(*exit_code = Fail(verb, s.status()));
        sz = *s;
      }
      meta::MetaCreateOptions o;
      o.kind = c->external ? MdKind::kExternal : MdKind::kInternal;
      o.external_index = c->external ? c->index : -1;
      if (c->external) {
        if (data_size->empty()) {
          return void(*exit_code = Fail(verb, absl::InvalidArgumentError(
                                                  "--external needs --data-size")));
        }
        auto d = ParseSize(*data_size);
        if (!d.ok()) return void(*exit_code = Fail(verb, d.status()));
        o.data_bytes = *d;
      }
      o.al_extents = *al_extents;
      o.al_ring_blocks = *ring;
      o.node_id = c->node_id < 0 ? 0 : static_cast<uint32_t>(c->node_id);
      if (!uuid->empty() && !absl::SimpleHexAtoi(*uuid, &o.device_uuid)) {
        return void(*exit_code = Fail(verb, absl::InvalidArgumentError("bad --uuid")));
      }
      o.force = *force;
      auto dev = OpenDevice(c->path, false, sz);
      if (!dev.ok()) return void(*exit_code = Fail(verb, dev.status()));
      auto sb = MetaStore::Create(dev->get(), o);
      if (!sb.ok()) return void(*exit_code = Fail(verb, sb.status()));
      std::cout << "created " << meta::MdKindName(sb->kind) << " metadata on " << c->path
                << ": uuid 0x" << absl::StrCat(absl::Hex(sb->device_uuid)) << ", node "
                << sb->node_id << ", " << sb->data_bytes << " data bytes, "
                << sb->al_extents << " AL extents, " << sb->md_bytes << " metadata bytes\n";
      *exit_code = 0;
    });
  }
  // dump-md
  {
    auto* c = new Common;
    auto* json = new bool(false);
    CLI::App* cmd = app.add_subcommand("dump-md", "print the metadata (restore-md reads the text form)");
    AddCommon(cmd, c, true);
    cmd->add_flag("--json", *json, "JSON instead of text");
    cmd->callback([=] {
      auto dev = OpenDevice(c->path, true);
      if (!dev.ok()) return void(*exit_code = Fail("dump-md", dev.status()));
      meta::RecoveryReport rep;
      auto ms = MetaStore::Open(dev->get(), OpenOptions(*c, true), &rep);
      if (!ms.ok()) return void(*exit_code = Fail("dump-md", ms.status()));
      const auto hot = (*ms)->activity_log().HotExtents();
      std::cout << (*json ? meta::DumpJson((*ms)->superblock(), (*ms)->bitmap(), hot)
                          : meta::DumpText((*ms)->superblock(), (*ms)->bitmap(), hot));
      for (const auto* l : {&rep.superblock_dropped, &rep.al_dropped, &rep.bitmap_dropped}) {
        for (const std::string& d : *l) std::cerr << "hafsctl dump-md: warning: " << d << "\n";
      }
      if (!rep.al_complete) {
        std::cerr << "hafsctl dump-md: warning: the AL could not be rebuilt completely; "
                     "apply-al will force a full sync\n";
      }
      *exit_code = 0;
    });
  }
  // restore-md
  {
    auto* c = new Common;
    auto* from = new std::string;
    auto* force = new bool(false);
    CLI::App* cmd = app.add_subcommand("restore-md", "write metadata from a dump-md text dump");
    cmd->add_option("device", c->path, "file or block device")->required();
    cmd->add_option("--from", *from, "dump file ('-' = stdin)")->required();
    cmd->add_flag("--force", *force, "overwrite metadata of another uuid");
    cmd->callback([=] {
      std::stringstream ss;
      if (*from == "-") {
        ss << std::cin.rdbuf();
      } else {
        std::ifstream in(*from);
        if (!in) {
          return void(*exit_code = Fail("restore-md", absl::NotFoundError(absl::StrCat(
                                                          "cannot read ", *from))));
        }
        ss << in.rdbuf();
      }
      auto d = meta::ParseDump(ss.str());
      if (!d.ok()) return void(*exit_code = Fail("restore-md", d.status()));
      auto dev = OpenDevice(c->path, false);
      if (!dev.ok()) return void(*exit_code = Fail("restore-md", dev.status()));
      absl::Status s = meta::RestoreDump(dev->get(), *d, *force);
      if (!s.ok()) return void(*exit_code = Fail("restore-md", s));
      std::cout << "restored metadata uuid 0x" << absl::StrCat(absl::Hex(d->sb.device_uuid))
                << " on " << c->path << "\n";
      *exit_code = 0;
    });
  }
  // show-gi
  {
    auto* c = new Common;
    CLI::App* cmd = app.add_subcommand("show-gi", "print the generation identifiers");
    AddCommon(cmd, c, true);
    cmd->callback([=] {
      auto dev = OpenDevice(c->path, true);
      if (!dev.ok()) return void(*exit_code = Fail("show-gi", dev.status()));
      auto ms = MetaStore::Open(dev->get(), OpenOptions(*c, true), nullptr);
      if (!ms.ok()) return void(*exit_code = Fail("show-gi", ms.status()));
      std::cout << meta::ShowGi((*ms)->superblock());
      *exit_code = 0;
    });
  }
  // apply-al
  {
    auto* c = new Common;
    CLI::App* cmd = app.add_subcommand(
        "apply-al", "merge the activity log into the bitmap and mark the AL clean");
    AddCommon(cmd, c, true);
    cmd->callback([=] {
      auto dev = OpenDevice(c->path, false);
      if (!dev.ok()) return void(*exit_code = Fail("apply-al", dev.status()));
      meta::RecoveryReport rep;
      auto ms = MetaStore::Open(dev->get(), OpenOptions(*c, false), &rep);
      if (!ms.ok()) return void(*exit_code = Fail("apply-al", ms.status()));
      absl::Status s = (*ms)->Close();
      if (!s.ok()) return void(*exit_code = Fail("apply-al", s));
      std::cout << rep.ToString() << "\nbitmap: " << (*ms)->bitmap().Count()
                << " blocks out of sync\n";
      *exit_code = 0;
    });
  }
  // wipe-md
  {
    auto* c = new Common;
    auto* force = new bool(false);
    CLI::App* cmd = app.add_subcommand("wipe-md", "destroy the metadata (superblocks and AL)");
    AddCommon(cmd, c, true);
    cmd->add_flag("--force", *force, "wipe even if no metadata is found");
    cmd->callback([=] {
      auto dev = OpenDevice(c->path, false);
      if (!dev.ok()) return void(*exit_code = Fail("wipe-md", dev.status()));
      if (c->node_id >= 0 && !*force) {
        auto ms = MetaStore::Open(dev->get(), OpenOptions(*c, true), nullptr);
        if (!ms.ok()) return void(*exit_code = Fail("wipe-md", ms.status()));
      }
      absl::Status s = MetaStore::Wipe(dev->get(),
                                       c->external ? MdKind::kExternal : MdKind::kInternal,
                                       c->external ? c->index : -1, *force);
      if (!s.ok()) return void(*exit_code = Fail("wipe-md", s));
      std::cout << "wiped metadata on " << c->path << "\n";
      *exit_code = 0;
    });
  }
}

}  // namespace hafs::cli
