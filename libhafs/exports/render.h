// File: libhafs/exports/render.h
// -----------------------------------------------------------------------------
// Renderers for the two NFS servers hafs drives.
//
// knfsd: RenderKnfsd() writes a canonical /etc/exports.d/*.exports file (one
// fully expanded line per (path, client), in precedence order, paths \ooo
// escaped) that exportfs reads back to the same etab, plus the command plan
// to apply it.
//
// NFS-Ganesha: RenderGanesha() writes one EXPORT block per exported path:
//   Export_Id   stable: the numeric fsid when it is 1..65535, else derived
//               from a hash of the path (collisions resolved in path order);
//   Path        the resolved path; Pseudo: relative to the fsid=0 export when
//               there is one (paths outside it are skipped with a comment),
//               else the path itself;
//   Access_Type = None at export level (clients not listed get nothing), and
//   one CLIENT block per knfsd entry, in knfsd precedence order (Ganesha's
//   CLIENT list is first-match), with Access_Type RO/RW, Squash
//   (Root_Squash / No_Root_Squash / All_Squash), SecType, Anonymous_uid/gid,
//   PrivilegedPort (secure/insecure); Protocols = 4; Transports = TCP.
// Client kinds Ganesha cannot express (gss/*; non-contiguous dotted masks)
// are emitted as comments.
//
// Thread-safety: pure functions.
#ifndef HAFS_LIBHAFS_EXPORTS_RENDER_H_
#define HAFS_LIBHAFS_EXPORTS_RENDER_H_

#include <string>
#include <vector>

#include "libhafs/exports/table.h"

namespace hafs::exports {

struct KnfsdPlan {
  std::string exports_file;           // contents for /etc/exports.d/NAME.exports
  std::vector<std::string> commands;  // shell commands, in order
  // Entries that cannot be written back (a token would reach nfs-utils'
  // 512-byte limit); they appear as "# NOT RENDERED" comments.
  int unrendered = 0;
};
KnfsdPlan RenderKnfsd(const ExportTable& table,
                      const std::string& target = "/etc/exports.d/hafs.exports");

struct GaneshaExport {
  int export_id = 0;
  std::string path;
  std::string pseudo;
};
struct GaneshaConfig {
  std::string text;                    // EXPORT blocks
  std::vector<GaneshaExport> exports;  // what was rendered
};
GaneshaConfig RenderGanesha(const ExportTable& table);

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_RENDER_H_
