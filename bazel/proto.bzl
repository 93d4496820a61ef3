"""hafs_cc_proto: C++ protobuf (and optionally gRPC) code from a .proto, offline.

Runs Debian's system `protoc` and `grpc_cpp_plugin` in a genrule and wraps the generated
sources in a cc_library. Bazel 4.2.3 without network cannot use rules_proto/grpc's rules.

Example:
    hafs_cc_proto(name = "config_cc_proto", src = "config.proto")
    hafs_cc_proto(name = "peer_cc_grpc", src = "peer.proto", grpc = True,
                  proto_deps = [":config_cc_proto"])
"""

def hafs_cc_proto(name, src, grpc = False, proto_deps = [], srcs_deps = [], visibility = None, testonly = False):
    """Generates <name> = cc_library with the messages (and the gRPC service if grpc=True).

    Args:
      name: name of the cc_library.
      src: the .proto file (in this package).
      grpc: also generate the gRPC C++ service code.
      proto_deps: hafs_cc_proto targets whose .proto files `src` imports.
      srcs_deps: the .proto files of proto_deps (labels), needed as genrule inputs.
      visibility: visibility of the cc_library.
      testonly: as for any rule.
    """
    if not src.endswith(".proto"):
        fail("hafs_cc_proto: src must be a .proto file, got " + src)
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    cmd = "protoc -I. -I/usr/include --cpp_out=$(GENDIR) $(location " + src + ")"
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        cmd += (" && protoc -I. -I/usr/include --grpc_out=$(GENDIR)" +
                " --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) $(location " + src + ")")
    native.genrule(
        name = name + "_gen",
        srcs = [src] + srcs_deps,
        outs = outs,
        cmd = cmd,
        testonly = testonly,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = proto_deps + ["//bazel/system:protobuf"] + (["//bazel/system:grpc"] if grpc else []),
        visibility = visibility,
        testonly = testonly,
    )
