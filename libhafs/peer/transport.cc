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

std::string* MutableBulkField(MirrorMessage* m) {
  switch (m->body_case()) {
    case MirrorMessage::kData:
      return m->mutable_data()->mutable_data();
    case MirrorMessage::kResyncData:
      return m->mutable_resync_data()->mutable_data();
    case MirrorMessage::kReadReply:
      return m->mutable_read_reply()->mutable_data();
    default:
      return nullptr;
  }
}

int BulkFieldNumber(int body_field) {
  switch (body_field) {
    case MirrorMessage::kDataFieldNumber:
      return Data::kDataFieldNumber;
    case MirrorMessage::kResyncDataFieldNumber:
      return ResyncData::kDataFieldNumber;
    case MirrorMessage::kReadReplyFieldNumber:
      return ReadReply::kDataFieldNumber;
    default:
      return 0;
  }
}

absl::string_view BulkBytes(const MirrorMessage& m, const Payload& payload) {
  if (payload != nullptr) return payload->view();
  switch (m.body_case()) {
    case MirrorMessage::kData:
      return m.data().data();
    case MirrorMessage::kResyncData:
      return m.resync_data().data();
    case MirrorMessage::kReadReply:
      return m.read_reply().data();
    default:
      return {};
  }
}

}  // namespace hafs::peer
