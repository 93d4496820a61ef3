// File: libhafs/cluster/wire_state.h
// -----------------------------------------------------------------------------
// Role and disk state <-> their heartbeat.proto encodings (wire version 1,
// docs/wire.md). The wire enums are fixed by the protocol; the in-memory types
// are the mirror's (splitbrain::Role / DiskState), whose numbering differs, so
// every conversion goes through these functions, never a cast.
//
// Thread-safety: pure functions.
#ifndef HAFS_LIBHAFS_CLUSTER_WIRE_STATE_H_
#define HAFS_LIBHAFS_CLUSTER_WIRE_STATE_H_

#include "libhafs/cluster/heartbeat.pb.h"
#include "libhafs/splitbrain/handshake.h"

namespace hafs::cluster {

// Transient disk states (Attaching, Failed, Negotiating, DUnknown) travel as
// DISK_DISKLESS: no usable disk.
wire::DiskState DiskToWire(splitbrain::DiskState d);
// Unknown or unspecified values read as Diskless.
splitbrain::DiskState DiskFromWire(wire::DiskState d);

wire::Role RoleToWire(splitbrain::Role r);
splitbrain::Role RoleFromWire(wire::Role r);

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_WIRE_STATE_H_
