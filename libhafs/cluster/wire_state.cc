#include "libhafs/cluster/wire_state.h"

namespace hafs::cluster {

using splitbrain::DiskState;

wire::DiskState DiskToWire(DiskState d) {
  switch (d) {
    case DiskState::kInconsistent: return wire::DISK_INCONSISTENT;
    case DiskState::kOutdated: return wire::DISK_OUTDATED;
    case DiskState::kConsistent: return wire::DISK_CONSISTENT;
    case DiskState::kUpToDate: return wire::DISK_UP_TO_DATE;
    default: return wire::DISK_DISKLESS;
  }
}

DiskState DiskFromWire(wire::DiskState d) {
  switch (d) {
    case wire::DISK_INCONSISTENT: return DiskState::kInconsistent;
    case wire::DISK_OUTDATED: return DiskState::kOutdated;
    case wire::DISK_CONSISTENT: return DiskState::kConsistent;
    case wire::DISK_UP_TO_DATE: return DiskState::kUpToDate;
    default: return DiskState::kDiskless;
  }
}

wire::Role RoleToWire(splitbrain::Role r) {
  return r == splitbrain::Role::kPrimary ? wire::ROLE_PRIMARY : wire::ROLE_SECONDARY;
}

splitbrain::Role RoleFromWire(wire::Role r) {
  return r == wire::ROLE_PRIMARY ? splitbrain::Role::kPrimary : splitbrain::Role::kSecondary;
}

}  // namespace hafs::cluster
