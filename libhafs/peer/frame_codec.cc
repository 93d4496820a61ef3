#include "libhafs/peer/frame_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/status_macros.h"

namespace hafs::peer {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

constexpr WireFormatLite::WireType kLen = WireFormatLite::WIRETYPE_LENGTH_DELIMITED;

uint32_t LenTag(int field) { return WireFormatLite::MakeTag(field, kLen); }

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

size_t VarintSize(uint64_t v) { return CodedOutputStream::VarintSize64(v); }

// The body message of `m` with field number `field`: one that carries a bulk
// field (BulkFieldNumber(field) != 0).
const google::protobuf::Message& Body(const MirrorMessage& m, int field) {
  switch (field) {
    case MirrorMessage::kDataFieldNumber:
      return m.data();
    case MirrorMessage::kResyncDataFieldNumber:
      return m.resync_data();
    default:
      return m.read_reply();
  }
}

google::protobuf::Message* MutableBody(MirrorMessage* m, int field) {
  switch (field) {
    case MirrorMessage::kDataFieldNumber:
      return m->mutable_data();
    case MirrorMessage::kResyncDataFieldNumber:
      return m->mutable_resync_data();
    default:
      return m->mutable_read_reply();
  }
}

// A slice that owns `s` (no copy for large strings).
grpc::Slice OwnedSlice(std::unique_ptr<std::string> s) {
  if (s->size() < kZeroCopyMinBytes) return grpc::Slice(s->data(), s->size());
  std::string* raw = s.release();
  return grpc::Slice(
      raw->data(), raw->size(), [](void* p) { delete static_cast<std::string*>(p); }, raw);
}

// Protobuf's parser reads a tag or a length in at most 5 bytes and refuses
// longer varints; CodedInputStream accepts up to 10. These helpers refuse
// them too, so that nothing protobuf would refuse gets through.

// The next tag, or 0 at the end or on error (ConsumedEntireMessage() says
// which: false after an over-long tag).
uint32_t NextTag(CodedInputStream* in) {
  const int before = in->CurrentPosition();
  const uint32_t tag = in->ReadTag();
  return in->CurrentPosition() - before <= 5 ? tag : 0;
}

bool ReadLength(CodedInputStream* in, uint32_t* len) {
  const int before = in->CurrentPosition();
  return in->ReadVarint32(len) && in->CurrentPosition() - before <= 5 &&
         *len <= static_cast<uint32_t>(std::numeric_limits<int>::max());
}

// Copies the field with `tag` from `in` to `out` (re-encoded). Groups (none in
// proto3) are refused.
bool CopyField(CodedInputStream* in, uint32_t tag, CodedOutputStream* out) {
  switch (WireFormatLite::GetTagWireType(tag)) {
    case WireFormatLite::WIRETYPE_VARINT: {
      uint64_t v = 0;
      if (!in->ReadVarint64(&v)) return false;
      out->WriteTag(tag);
      out->WriteVarint64(v);
      return true;
    }
    case WireFormatLite::WIRETYPE_FIXED64: {
      uint64_t v = 0;
      if (!in->ReadLittleEndian64(&v)) return false;
      out->WriteTag(tag);
      out->WriteLittleEndian64(v);
      return true;
    }
    case WireFormatLite::WIRETYPE_FIXED32: {
      uint32_t v = 0;
      if (!in->ReadLittleEndian32(&v)) return false;
      out->WriteTag(tag);
      out->WriteLittleEndian32(v);
      return true;
    }
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
      uint32_t len = 0;
      std::string bytes;
      if (!ReadLength(in, &len) || !in->ReadString(&bytes, static_cast<int>(len))) return false;
      out->WriteTag(tag);
      out->WriteVarint32(len);
      out->WriteString(bytes);
      return true;
    }
    default:
      return false;
  }
}

absl::Status Malformed(const CodedInputStream& in, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed Frame at byte ", in.CurrentPosition(),
                                                 ": ", what,
                                                 " (not a hafs peer Frame, or truncated)"));
}

// Runs `decode` on the next `len` bytes and checks it used all of them.
template <typename Fn>
absl::Status Within(CodedInputStream* in, uint32_t len, absl::string_view what, Fn decode) {
  if (len > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
      (in->BytesUntilLimit() >= 0 && static_cast<int64_t>(len) > in->BytesUntilLimit())) {
    return Malformed(*in, absl::StrCat(what, " length beyond the end of its container"));
  }
  const CodedInputStream::Limit limit = in->PushLimit(static_cast<int>(len));
  HAFS_RETURN_IF_ERROR(decode());
  if (in->BytesUntilLimit() != 0) return Malformed(*in, absl::StrCat("truncated ", what));
  in->PopLimit(limit);
  return absl::OkStatus();
}

// Reads the fields of a body message that has a bulk field (number
// `bulk_field`), up to the current limit: the bulk bytes into `*payload`, the
// rest merged into `*body` as protobuf does.
absl::Status DecodeBulkBody(CodedInputStream* in, int bulk_field, io::BufferPool* pool,
                            google::protobuf::Message* body, Payload* payload) {
  std::string rest;
  {
    StringOutputStream rest_stream(&rest);
    CodedOutputStream rest_out(&rest_stream);
    while (const uint32_t tag = NextTag(in)) {
      if (tag == LenTag(bulk_field)) {
        uint32_t len = 0;
        if (!ReadLength(in, &len) || static_cast<int64_t>(len) > in->BytesUntilLimit()) {
          return Malformed(*in, "payload length beyond the end of its message");
        }
        if (len == 0) {
          payload->reset();
          continue;
        }
        Payload buf = pool->Get(len);
        if (!in->ReadRaw(buf->data(), static_cast<int>(len))) {
          return Malformed(*in, "truncated payload");
        }
        *payload = std::move(buf);  // a repeated occurrence wins, as in protobuf
      } else if (!CopyField(in, tag, &rest_out)) {
        return Malformed(*in, absl::StrCat("bad field in ", body->GetTypeName()));
      }
    }
    if (!in->ConsumedEntireMessage()) {
      return Malformed(*in, absl::StrCat("bad tag in ", body->GetTypeName()));
    }
  }
  if (!rest.empty() && !body->MergeFromString(rest)) {
    return Malformed(*in, absl::StrCat("bad ", body->GetTypeName()));
  }
  return absl::OkStatus();
}

// Reads one MirrorMessage up to the current limit.
absl::Status DecodeMessage(CodedInputStream* in, io::BufferPool* pool, MirrorMessage* m,
                           Payload* payload) {
  std::string rest;
  {
    StringOutputStream rest_stream(&rest);
    CodedOutputStream rest_out(&rest_stream);
    while (const uint32_t tag = NextTag(in)) {
      const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
      const int bulk_field = BulkFieldNumber(field);
      if (bulk_field != 0 && WireFormatLite::GetTagWireType(tag) == kLen) {
        uint32_t len = 0;
        if (!ReadLength(in, &len)) return Malformed(*in, "bad length in MirrorMessage");
        if (m->body_case() != field) payload->reset();  // another body replaced
        google::protobuf::Message* body = MutableBody(m, field);
        HAFS_RETURN_IF_ERROR(Within(in, len, body->GetTypeName(), [&] {
          return DecodeBulkBody(in, bulk_field, pool, body, payload);
        }));
      } else if (!CopyField(in, tag, &rest_out)) {
        return Malformed(*in, "bad field in MirrorMessage");
      }
    }
    if (!in->ConsumedEntireMessage()) return Malformed(*in, "bad tag in MirrorMessage");
  }
  if (!rest.empty()) {
    const int bulk_body = *payload != nullptr ? m->body_case() : 0;
    if (!m->MergeFromString(rest)) return Malformed(*in, "bad MirrorMessage");
    if (bulk_body != 0 && m->body_case() != bulk_body) {
      return Malformed(*in, "two bodies in one MirrorMessage");
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeBatch(CodedInputStream* in, io::BufferPool* pool, MirrorBatch* batch,
                         std::vector<Payload>* payloads) {
  std::string rest;  // unknown fields, kept as protobuf keeps them
  StringOutputStream rest_stream(&rest);
  CodedOutputStream rest_out(&rest_stream);
  while (const uint32_t tag = NextTag(in)) {
    if (tag != LenTag(MirrorBatch::kMessagesFieldNumber)) {
      if (!CopyField(in, tag, &rest_out)) {
        return Malformed(*in, "bad field in MirrorBatch");
      }
      continue;
    }
    uint32_t len = 0;
    if (!ReadLength(in, &len) || static_cast<int64_t>(len) > in->BytesUntilLimit()) {
      return Malformed(*in, "MirrorMessage length beyond the end of its batch");
    }
    MirrorMessage* m = batch->add_messages();
    Payload& payload = payloads->emplace_back();
    // Fast path: a message without a bulk body that lies in the current
    // receive slice is parsed in place.
    const void* data = nullptr;
    int size = 0;
    if (in->GetDirectBufferPointer(&data, &size) && static_cast<uint32_t>(size) >= len) {
      CodedInputStream peek(static_cast<const uint8_t*>(data), static_cast<int>(len));
      const uint32_t first = peek.ReadTag();
      if (BulkFieldNumber(static_cast<int>(WireFormatLite::GetTagFieldNumber(first))) == 0) {
        if (!m->ParseFromArray(data, static_cast<int>(len))) {
          return Malformed(*in, "bad MirrorMessage");
        }
        in->Skip(static_cast<int>(len));
        continue;
      }
    }
    HAFS_RETURN_IF_ERROR(
        Within(in, len, "MirrorMessage", [&] { return DecodeMessage(in, pool, m, &payload); }));
  }
  if (!in->ConsumedEntireMessage()) return Malformed(*in, "bad tag in MirrorBatch");
  rest_out.Trim();
  if (!rest.empty() && !batch->MergeFromString(rest)) return Malformed(*in, "bad MirrorBatch");
  return absl::OkStatus();
}

}  // namespace

void EncodeFrame(Frame* frame, grpc::ByteBuffer* out) {
  if (!frame->has_batch()) {
    auto bytes = std::make_unique<std::string>(frame->SerializeAsString());
    grpc::Slice slice = OwnedSlice(std::move(bytes));
    *out = grpc::ByteBuffer(&slice, 1);
    return;
  }
  // Each message: its serialized bytes, or (large bulk field) the bytes up to
  // the bulk field's contents, which follow in a slice of their own. The
  // bulk field goes last in its body (protobuf accepts fields in any order).
  struct Piece {
    std::string head;
    std::unique_ptr<std::string> bulk;
  };
  std::vector<Piece> pieces;
  pieces.reserve(frame->batch().messages_size());
  size_t batch_len = 0;
  for (MirrorMessage& m : *frame->mutable_batch()->mutable_messages()) {
    Piece& p = pieces.emplace_back();
    const int body = m.body_case();
    const int bulk_field = BulkFieldNumber(body);
    std::string* field = bulk_field != 0 ? MutableBulkField(&m) : nullptr;
    AppendVarint(&p.head, LenTag(MirrorBatch::kMessagesFieldNumber));
    if (field == nullptr || field->size() < kZeroCopyMinBytes) {
      const std::string bytes = m.SerializeAsString();
      AppendVarint(&p.head, bytes.size());
      p.head += bytes;
    } else {
      p.bulk = std::make_unique<std::string>(std::move(*field));
      field->clear();
      const std::string rest = Body(m, body).SerializeAsString();
      const size_t bulk_len = p.bulk->size();
      const size_t body_len =
          rest.size() + VarintSize(LenTag(bulk_field)) + VarintSize(bulk_len) + bulk_len;
      const size_t msg_len = VarintSize(LenTag(body)) + VarintSize(body_len) + body_len;
      AppendVarint(&p.head, msg_len);
      AppendVarint(&p.head, LenTag(body));
      AppendVarint(&p.head, body_len);
      p.head += rest;
      AppendVarint(&p.head, LenTag(bulk_field));
      AppendVarint(&p.head, bulk_len);
    }
    batch_len += p.head.size() + (p.bulk != nullptr ? p.bulk->size() : 0);
  }
  std::vector<grpc::Slice> slices;
  std::string pending;
  AppendVarint(&pending, LenTag(Frame::kBatchFieldNumber));
  AppendVarint(&pending, batch_len);
  for (Piece& p : pieces) {
    pending += p.head;
    if (p.bulk != nullptr) {
      slices.emplace_back(pending.data(), pending.size());
      pending.clear();
      slices.push_back(OwnedSlice(std::move(p.bulk)));
    }
  }
  if (!pending.empty()) slices.emplace_back(pending.data(), pending.size());
  *out = grpc::ByteBuffer(slices.data(), slices.size());
}

absl::Status DecodeFrame(grpc::ByteBuffer* in, io::BufferPool* pool, Frame* frame,
                         std::vector<Payload>* payloads) {
  frame->Clear();
  payloads->clear();
  grpc::ProtoBufferReader reader(in);
  if (!reader.status().ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unreadable Frame: ", reader.status().error_message()));
  }
  CodedInputStream cis(&reader);
  cis.SetTotalBytesLimit(std::numeric_limits<int>::max());
  std::string rest;
  bool batch = false;
  {
    StringOutputStream rest_stream(&rest);
    CodedOutputStream rest_out(&rest_stream);
    while (const uint32_t tag = NextTag(&cis)) {
      if (tag == LenTag(Frame::kBatchFieldNumber)) {
        uint32_t len = 0;
        if (!ReadLength(&cis, &len)) return Malformed(cis, "bad MirrorBatch length");
        HAFS_RETURN_IF_ERROR(Within(&cis, len, "MirrorBatch", [&] {
          return DecodeBatch(&cis, pool, frame->mutable_batch(), payloads);
        }));
        batch = true;
      } else if (!CopyField(&cis, tag, &rest_out)) {
        return Malformed(cis, "bad field in Frame");
      }
    }
    if (!cis.ConsumedEntireMessage()) return Malformed(cis, "bad tag in Frame");
  }
  if (!rest.empty()) {
    if (!frame->MergeFromString(rest)) return Malformed(cis, "bad Frame");
    if (batch && !frame->has_batch()) {
      return Malformed(cis, "a batch and another body in one Frame");
    }
  }
  if (!frame->has_batch()) payloads->clear();
  return absl::OkStatus();
}

}  // namespace hafs::peer
