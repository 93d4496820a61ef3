#include "libhafs/peer/transport.h"

namespace hafs::peer {

const char* KindName(TransportEvent::Kind kind) {
  switch (kind) {
    case TransportEvent::Kind::kConnected:
      return "Connected";
    case TransportEvent::Kind::kMessage:
      return "Message";
    case TransportEvent::Kind::kDisconnected:
      return "Disconnected";
    case TransportEvent::Kind::kWritable:
      return "Writable";
    case TransportEvent::Kind::kConnectFailed:
      return "ConnectFailed";
  }
  return "?";
}

}  // namespace hafs::peer
