#include "libhafs/peer/frame_codec.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::peer {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string Flatten(grpc::ByteBuffer* b) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(b->Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// `bytes` cut into slices of 1..max_piece bytes (gRPC hands a large message
// over in many slices).
grpc::ByteBuffer Sliced(const std::string& bytes, Random* rnd, size_t max_piece) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min(bytes.size() - at, 1 + rnd->Uniform(max_piece));
    slices.emplace_back(bytes.data() + at, n);
    at += n;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Bytes(Random* rnd, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rnd->Uniform(256));
  return s;
}

MirrorMessage RandomMessage(Random* rnd) {
  static const size_t kSizes[] = {0,     1,      4096, kZeroCopyMinBytes - 1, kZeroCopyMinBytes,
                                  65536, 1 << 20};
  MirrorMessage m;
  const size_t bulk = kSizes[rnd->Uniform(std::size(kSizes))];
  switch (rnd->Uniform(6)) {
    case 0: {
      Data* d = m.mutable_data();
      d->set_seq(rnd->Next64());
      d->set_epoch(rnd->Uniform(1000));
      d->set_offset(rnd->Uniform(1 << 20) * 4096);
      d->set_data(Bytes(rnd, bulk));
      d->set_fua(rnd->OneIn(2));
      d->set_preflush(rnd->OneIn(3));
      break;
    }
    case 1:
      m.mutable_resync_data()->set_offset(rnd->Next64());
      m.mutable_resync_data()->set_data(Bytes(rnd, bulk));
      break;
    case 2:
      m.mutable_read_reply()->set_id(rnd->Next64());
      m.mutable_read_reply()->set_data(Bytes(rnd, bulk));
      if (rnd->OneIn(3)) m.mutable_read_reply()->set_error("EIO on the peer");
      break;
    case 3:
      m.mutable_ack()->set_seq(rnd->Next64());
      m.mutable_ack()->set_kind(ACK_WRITTEN);
      break;
    case 4:
      m.mutable_barrier()->set_epoch(rnd->Next64());
      m.mutable_barrier()->set_writes(7);
      break;
    default:
      m.mutable_verify_reply()->set_offset(4096);
      m.mutable_verify_reply()->set_digest(Bytes(rnd, bulk / 256));  // bytes, but not bulk
      break;
  }
  return m;
}

// `got` with the payloads put back into the messages.
Frame Reassembled(Frame got, const std::vector<Payload>& payloads) {
  if (!got.has_batch()) return got;
  EXPECT_EQ(payloads.size(), static_cast<size_t>(got.batch().messages_size()));
  for (int i = 0; i < got.batch().messages_size() && i < static_cast<int>(payloads.size()); ++i) {
    if (payloads[i] == nullptr) continue;
    std::string* field = MutableBulkField(got.mutable_batch()->mutable_messages(i));
    EXPECT_NE(field, nullptr);
    EXPECT_TRUE(field->empty()) << "bulk bytes both in the message and in the payload";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(payloads[i]->data()) % 4096, 0u);
    field->assign(payloads[i]->data(), payloads[i]->size());
  }
  return got;
}

TEST(FrameCodecTest, RandomBatchesRoundTripAndStayProtobufCompatible) {
  Random rnd(20261125);
  io::BufferPool pool;
  for (int iter = 0; iter < 60; ++iter) {
    Frame original;
    const int n = static_cast<int>(rnd.Uniform(6));
    for (int i = 0; i < n; ++i) *original.mutable_batch()->add_messages() = RandomMessage(&rnd);
    if (n == 0 && rnd.OneIn(2)) original.mutable_batch();  // an empty batch

    // Our encoder -> protobuf's parser: the wire format is Frame's.
    Frame sent = original;
    grpc::ByteBuffer wire;
    EncodeFrame(&sent, &wire);
    const std::string flat = Flatten(&wire);
    Frame parsed;
    ASSERT_TRUE(parsed.ParseFromString(flat));
    ASSERT_TRUE(MessageDifferencer::Equals(parsed, original)) << "iteration " << iter;

    // Our decoder, on our encoding and on protobuf's, in slices of any size.
    for (const std::string& bytes : {flat, original.SerializeAsString()}) {
      grpc::ByteBuffer in = Sliced(bytes, &rnd, rnd.OneIn(2) ? 64 : 70000);
      Frame got;
      std::vector<Payload> payloads;
      ASSERT_OK(DecodeFrame(&in, &pool, &got, &payloads));
      for (int i = 0; i < got.batch().messages_size(); ++i) {
        const bool has_bulk = !BulkBytes(original.batch().messages(i), nullptr).empty();
        EXPECT_EQ(payloads[i] != nullptr, has_bulk) << "message " << i;
      }
      ASSERT_TRUE(MessageDifferencer::Equals(Reassembled(got, payloads), original))
          << "iteration " << iter;
    }
  }
}

TEST(FrameCodecTest, ControlFramesHaveNoPayloads) {
  Frame hello;
  hello.mutable_hello()->set_node_name("alpha");
  hello.mutable_hello()->set_challenge(std::string(32, 'c'));
  Frame sent = hello;
  grpc::ByteBuffer wire;
  EncodeFrame(&sent, &wire);
  io::BufferPool pool;
  Frame got;
  std::vector<Payload> payloads;
  ASSERT_OK(DecodeFrame(&wire, &pool, &got, &payloads));
  EXPECT_TRUE(MessageDifferencer::Equals(got, hello));
  EXPECT_TRUE(payloads.empty());
}

TEST(FrameCodecTest, EveryTruncationIsAnError) {
  Random rnd(7);
  Frame f;
  MirrorMessage* m = f.mutable_batch()->add_messages();
  m->mutable_data()->set_seq(9);
  m->mutable_data()->set_data(Bytes(&rnd, 20000));
  f.mutable_batch()->add_messages()->mutable_ack()->set_seq(9);
  const std::string bytes = f.SerializeAsString();
  io::BufferPool pool;
  for (size_t len = 1; len < bytes.size(); len += (len < 64 || len > bytes.size() - 64) ? 1 : 97) {
    grpc::ByteBuffer in = Sliced(bytes.substr(0, len), &rnd, 5000);
    Frame got;
    std::vector<Payload> payloads;
    const absl::Status s = DecodeFrame(&in, &pool, &got, &payloads);
    ASSERT_FALSE(s.ok()) << "prefix of " << len << " bytes decoded";
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("malformed Frame at byte"), std::string::npos) << s;
  }
}

// Hand-made encodings: tag/length bytes.
std::string Len(int field, const std::string& body) {
  std::string out;
  uint64_t tag = (static_cast<uint64_t>(field) << 3) | 2;
  for (uint64_t v : {tag, static_cast<uint64_t>(body.size())}) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  return out + body;
}

absl::Status DecodeString(const std::string& bytes) {
  std::vector<grpc::Slice> one{grpc::Slice(bytes.data(), bytes.size())};
  grpc::ByteBuffer in(one.data(), one.size());
  io::BufferPool pool;
  Frame got;
  std::vector<Payload> payloads;
  return DecodeFrame(&in, &pool, &got, &payloads);
}

TEST(FrameCodecTest, RefusesAmbiguousAndOversizedEncodings) {
  const std::string data_body = Len(Data::kDataFieldNumber, std::string(4096, 'x'));
  Ack ack;
  ack.set_seq(1);
  // A Data (bulk) body followed by an Ack body in the same MirrorMessage.
  const std::string two_bodies = Len(MirrorMessage::kDataFieldNumber, data_body) +
                                 Len(MirrorMessage::kAckFieldNumber, ack.SerializeAsString());
  absl::Status s = DecodeString(
      Len(Frame::kBatchFieldNumber, Len(MirrorBatch::kMessagesFieldNumber, two_bodies)));
  EXPECT_NE(s.message().find("two bodies"), std::string::npos) << s;

  Hello hello;
  hello.set_node_name("x");
  s = DecodeString(Len(Frame::kBatchFieldNumber, "") +
                   Len(Frame::kHelloFieldNumber, hello.SerializeAsString()));
  EXPECT_NE(s.message().find("a batch and another body"), std::string::npos) << s;

  // A payload that claims 1 GiB inside a 20-byte message: refused before any
  // allocation.
  std::string lie = "\x22\xff\xff\xff\x03";  // Data.data, length 2^30 - 1 (varint)
  lie += "abc";
  s = DecodeString(Len(Frame::kBatchFieldNumber, Len(MirrorBatch::kMessagesFieldNumber,
                                                     Len(MirrorMessage::kDataFieldNumber, lie))));
  EXPECT_NE(s.message().find("payload length beyond"), std::string::npos) << s;

  // Tags and lengths in varints longer than 5 bytes: protobuf refuses them,
  // so do we (CodedInputStream alone would read them).
  s = DecodeString(std::string("\xd9\x80\x80\x80\x80\x00", 6) + std::string(8, 'x'));
  EXPECT_NE(s.message().find("malformed Frame"), std::string::npos) << s;
  s = DecodeString(std::string("\x22\x80\x80\x80\x80\x80\x00", 7));
  EXPECT_NE(s.message().find("malformed Frame"), std::string::npos) << s;
  s = DecodeString(Len(Frame::kBatchFieldNumber,
                       Len(MirrorBatch::kMessagesFieldNumber,
                           std::string("\x1a\x84\x80\x80\x80\x00", 6) + data_body.substr(0, 4))));
  EXPECT_NE(s.message().find("malformed Frame"), std::string::npos) << s;
  EXPECT_FALSE(DecodeString("\xff\xff\xff").ok());
  EXPECT_OK(DecodeString(""));  // an empty Frame is a Frame (the stream rejects it)
}

// Whether protobuf sees a field of the group wire types (3, 4) in `bytes`
// when it parses it as a Frame: then its unknown fields say so.
bool HasGroupWireType(const std::string& bytes) {
  Frame f;
  if (!f.ParseFromString(bytes)) return false;
  std::vector<const google::protobuf::UnknownFieldSet*> sets = {
      &f.GetReflection()->GetUnknownFields(f)};
  if (f.has_batch()) {
    sets.push_back(&f.batch().GetReflection()->GetUnknownFields(f.batch()));
    for (const MirrorMessage& m : f.batch().messages()) {
      sets.push_back(&m.GetReflection()->GetUnknownFields(m));
      const int body = m.body_case();
      if (BulkFieldNumber(body) != 0) {
        const google::protobuf::Message& b =
            m.GetReflection()->GetMessage(m, m.GetDescriptor()->FindFieldByNumber(body));
        sets.push_back(&b.GetReflection()->GetUnknownFields(b));
      }
    }
  }
  for (const google::protobuf::UnknownFieldSet* set : sets) {
    for (int i = 0; i < set->field_count(); ++i) {
      if (set->field(i).type() == google::protobuf::UnknownField::TYPE_GROUP) return true;
    }
  }
  return false;
}

// Differential fuzzing: valid frames with random byte edits, decoded by us and
// by protobuf. We may refuse what protobuf accepts only for the two ambiguous
// encodings and groups (docs/wire.md); whatever we accept, protobuf reads the
// same way.
TEST(FrameCodecTest, MutatedFramesDecodeAsProtobufDoesOrAreRefused) {
  google::protobuf::LogSilencer quiet;  // protobuf logs each invalid UTF-8 string
  Random rnd(4242);
  io::BufferPool pool;
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Frame f;
    const int n = 1 + static_cast<int>(rnd.Uniform(3));
    for (int i = 0; i < n; ++i) {
      MirrorMessage m = RandomMessage(&rnd);
      if (std::string* bulk = MutableBulkField(&m); bulk != nullptr && bulk->size() > 20000) {
        bulk->resize(20000);  // keep the fuzzing fast
      }
      *f.mutable_batch()->add_messages() = std::move(m);
    }
    std::string bytes = f.SerializeAsString();
    const int edits = 1 + static_cast<int>(rnd.Uniform(4));
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      // Edits aimed at the structure: the first bytes of the frame and of
      // its messages hold the tags and lengths.
      const size_t at = rnd.OneIn(2) ? rnd.Uniform(std::min<size_t>(bytes.size(), 40))
                                     : rnd.Uniform(bytes.size());
      switch (rnd.Uniform(4)) {
        case 0:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << rnd.Uniform(8)));
          break;
        case 1:
          bytes[at] = static_cast<char>(rnd.Uniform(256));
          break;
        case 2:  // a longer varint (or a different one)
          bytes.insert(at, 1 + rnd.Uniform(3), '\x80');
          break;
        default:
          bytes.erase(at, 1 + rnd.Uniform(4));
          break;
      }
    }
    grpc::ByteBuffer in = Sliced(bytes, &rnd, 1 + rnd.Uniform(3000));
    Frame got;
    std::vector<Payload> payloads;
    const absl::Status ours = DecodeFrame(&in, &pool, &got, &payloads);
    Frame theirs;
    const bool protobuf_ok = theirs.ParseFromString(bytes);
    if (ours.ok()) {
      ++accepted;
      ASSERT_TRUE(protobuf_ok) << "iteration " << iter << ": we accepted what protobuf refuses";
      std::string diff;
      MessageDifferencer d;
      d.ReportDifferencesToString(&diff);
      ASSERT_TRUE(d.Compare(Reassembled(got, payloads), theirs))
          << "iteration " << iter << ": " << diff.substr(0, 2000);
    } else {
      ++refused;
      EXPECT_EQ(ours.code(), absl::StatusCode::kInvalidArgument);
      if (protobuf_ok) {
        // Two bodies, a batch next to another body, and groups (no group in
        // proto3; an unknown field of the group wire type): refused although
        // protobuf reads them.
        EXPECT_TRUE(ours.message().find("two bodies") != std::string::npos ||
                    ours.message().find("a batch and another body") != std::string::npos ||
                    HasGroupWireType(bytes))
            << "iteration " << iter << ": refused a frame protobuf reads: " << ours;
      }
    }
  }
  // Both outcomes were exercised.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace hafs::peer
