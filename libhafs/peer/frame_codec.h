// File: libhafs/peer/frame_codec.h
// -----------------------------------------------------------------------------
// The Replicate stream's own (de)serialization of a Frame, used instead of
// gRPC's protobuf codec so that bulk payloads (Data.data, ResyncData.data,
// ReadReply.data) are copied once per side instead of twice. The bytes on the
// wire are exactly a serialized Frame (docs/wire.md); any protobuf
// implementation can talk to it.
//
//   * EncodeFrame moves each large bulk field out of the frame into a gRPC
//     slice of its own: the payload is not copied into a serialization
//     buffer; gRPC writes it from there.
//   * DecodeFrame parses the frame and reads each non-empty bulk field of a
//     batch message straight from gRPC's receive slices into a 4 KiB-aligned
//     buffer from `pool` (the transport hands it on as TransportEvent::payload,
//     and the mirror writes it with O_DIRECT as is); the field in the message
//     stays empty.
//
// Errors: DecodeFrame returns kInvalidArgument, saying where, for bytes that
// are not a Frame (truncated, bad tags or lengths) and for encodings this
// decoder refuses although protobuf would merge them (a batch next to another
// Frame body, two bodies in one MirrorMessage); nothing is half-decoded into
// the outputs' meaning: on error the caller drops the stream.
//
// Example:
//   grpc::ByteBuffer wire;
//   HAFS_RETURN_IF_ERROR(EncodeFrame(&frame, &wire));   // frame's payloads moved out
//   ...
//   Frame got; std::vector<Payload> payloads;
//   HAFS_RETURN_IF_ERROR(DecodeFrame(&wire, &pool, &got, &payloads));
//   // payloads[i] belongs to got.batch().messages(i) (nullptr: none)
#ifndef HAFS_LIBHAFS_PEER_FRAME_CODEC_H_
#define HAFS_LIBHAFS_PEER_FRAME_CODEC_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "libhafs/io/buffer_pool.h"
#include "libhafs/peer/peer.pb.h"
#include "libhafs/peer/transport.h"

namespace grpc {
class ByteBuffer;
}  // namespace grpc

namespace hafs::peer {

// Bulk fields at least this large travel in a slice of their own; smaller ones
// are serialized in line (a copy is cheaper than a slice).
inline constexpr size_t kZeroCopyMinBytes = 16 << 10;

// Serializes `*frame` into `*out`, moving bulk fields of batch messages out of
// `*frame` (which is left unspecified).
void EncodeFrame(Frame* frame, grpc::ByteBuffer* out);

// Parses `*in` (consumed) into `*frame`; `(*payloads)[i]` holds the bulk bytes
// of frame->batch().messages(i) or nullptr (no or empty field; other frame
// bodies: `payloads` is empty).
absl::Status DecodeFrame(grpc::ByteBuffer* in, io::BufferPool* pool, Frame* frame,
                         std::vector<Payload>* payloads);

}  // namespace hafs::peer

#endif  // HAFS_LIBHAFS_PEER_FRAME_CODEC_H_
