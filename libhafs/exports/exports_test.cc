// Parser and etab unit tests (the exhaustive check is the differential test
// against exportfs; these pin behaviours with explanations).
#include "libhafs/exports/exports.h"

#include "gtest/gtest.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"
#include "libhafs/exports/testing.h"

namespace hafs::exports {
namespace {

ParsedFile P(absl::string_view text) { return ParseExports(text, "e", {}); }

TEST(Parse, BasicEntry) {
  ParsedFile f = P("/srv *(rw,no_subtree_check)\n");
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_EQ(f.entries[0].client, "*");
  EXPECT_FALSE(f.entries[0].opts.flags & kReadOnly);
  EXPECT_TRUE(f.entries[0].had_subtree_opt);
  EXPECT_FALSE(f.stopped);
}

TEST(Parse, CommentOnlyAtTokenBoundary) {
  ParsedFile f = P("/a h(rw) # c\n/b h(rw)#c\n/c h\n");
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_TRUE(f.stopped);  // "h(rw)#c" is a bad option list
  EXPECT_EQ(f.stop_pos.line, 2);
}

TEST(Parse, ContinuationQuotesAndEscapes) {
  ParsedFile f = P("\"/srv/sp ace\"\\\n    h1(rw) /x\\040y\n");
  ASSERT_EQ(f.entries.size(), 2u);
  EXPECT_EQ(f.entries[0].path, "/srv/sp ace");
  EXPECT_EQ(f.entries[0].client, "h1");
  EXPECT_EQ(f.entries[1].client, "/x y");  // a second client, not a path
  EXPECT_EQ(EscapePath("/a b#\\\"\t"), "/a\\040b\\043\\134\\042\\011");
}

TEST(Parse, DefaultOptionsAndSpaceTrap) {
  ParsedFile f = P("/p -rw,async h1 h2(ro)\n/q hostx (rw)\n");
  ASSERT_EQ(f.entries.size(), 4u);
  EXPECT_FALSE(f.entries[0].opts.flags & kReadOnly);
  EXPECT_TRUE(f.entries[0].opts.flags & kAsync);
  EXPECT_TRUE(f.entries[1].opts.flags & kReadOnly);
  EXPECT_TRUE(f.entries[1].opts.flags & kAsync);
  EXPECT_EQ(f.entries[2].client, "hostx");
  EXPECT_EQ(f.entries[3].client, "*");
  EXPECT_TRUE(f.entries[3].empty_host_paren);
}

TEST(Parse, DashTokenAnywhereSetsDefaults) {
  // Any client token starting with '-' is a defaults token for the rest of
  // the line (not just the first one), as in getexportent().
  ParsedFile f = P("/a h1 -rw h2\n/b h3 -x\n/c h4\n");
  ASSERT_EQ(f.entries.size(), 3u);
  EXPECT_TRUE(f.entries[0].opts.flags & kReadOnly);
  EXPECT_FALSE(f.entries[1].opts.flags & kReadOnly);
  EXPECT_EQ(f.entries[2].client, "h3");
  EXPECT_TRUE(f.stopped);  // "-x": unknown keyword "x"
}

TEST(Parse, SecFlavourGroups) {
  ParsedFile f = P("/a h(sec=sys,rw,sec=krb5:krb5p,ro,no_root_squash)\n");
  ASSERT_EQ(f.entries.size(), 1u);
  const ExportOptions& o = f.entries[0].opts;
  ASSERT_EQ(o.secinfo.size(), 3u);
  EXPECT_FALSE(o.secinfo[0].flags & kReadOnly);
  EXPECT_TRUE(o.secinfo[1].flags & kReadOnly);
  EXPECT_FALSE(o.secinfo[2].flags & kRootSquash);
  EXPECT_TRUE(o.secinfo[0].flags & kRootSquash);
}

TEST(Parse, BadOptionsStopTheFile) {
  for (const char* bad : {"RW", "anonuid=x", "fsid=zz", "sec=krb4", "rw,,ro",
                          "xprtsec=tls", "squash_uids=-1"}) {
    ParsedFile f = P(std::string("/a h(") + bad + ")\n/b h(ro)\n");
    EXPECT_TRUE(f.stopped) << bad;
    EXPECT_TRUE(f.entries.empty()) << bad;
  }
  ParseOptions newer;
  newer.accept_xprtsec = true;
  ParsedFile f = ParseExports("/a h(xprtsec=tls:mtls)\n", "e", newer);
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_EQ(f.entries[0].opts.xprtsec.size(), 2u);
}

TEST(Parse, ClientKinds) {
  EXPECT_EQ(ClassifyClient(""), ClientKind::kAnonymous);
  EXPECT_EQ(ClassifyClient("*"), ClientKind::kAnonymous);
  EXPECT_EQ(ClassifyClient("gss/krb5"), ClientKind::kGss);
  EXPECT_EQ(ClassifyClient("@ng"), ClientKind::kNetgroup);
  EXPECT_EQ(ClassifyClient("*.lab"), ClientKind::kWildcard);
  EXPECT_EQ(ClassifyClient("n[0-9]"), ClientKind::kWildcard);
  EXPECT_EQ(ClassifyClient("10.0.0.0/8"), ClientKind::kSubnet);
  EXPECT_EQ(ClassifyClient("fe80::1%lo"), ClientKind::kHost);
  EXPECT_EQ(ClassifyClient("h\\*x"), ClientKind::kHost);  // backslash escapes *
}

TEST(Etab, RenderAndOrder) {
  FakeFileSystem fs;
  fs.AddDir("/srv/a");
  fs.AddFile("/etc/exports",
             "/srv/a *(rw) 10.0.0.0/8(ro) 10.0.0.1(rw,sec=krb5:sys)\n");
  NoDnsResolver dns;
  ExportTable t = BuildTable({Source::File("/etc/exports")}, fs, dns, {});
  ASSERT_EQ(t.exports.size(), 3u);
  EXPECT_EQ(RenderEtabLine(t, t.exports[0]),
            "/srv/a\t10.0.0.1(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,"
            "no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,"
            "anonuid=65534,anongid=65534,sec=krb5:sys,rw,root_squash,"
            "no_all_squash)");
  EXPECT_EQ(t.clients[t.exports[1].client].kind, ClientKind::kSubnet);
  EXPECT_EQ(t.clients[t.exports[2].client].kind, ClientKind::kAnonymous);
  EXPECT_EQ(t.ExitStatus(), 0);
}

TEST(Etab, DuplicatesAndMissingPaths) {
  FakeFileSystem fs;
  fs.AddDir("/srv/a");
  fs.AddFile("/e", "/srv/a h(rw)\n/srv/a H(ro)\n/srv/nope h\n");
  NoDnsResolver dns;
  ExportTable t = BuildTable({Source::File("/e")}, fs, dns, {});
  EXPECT_EQ(t.exports.size(), 2u);
  EXPECT_EQ(t.ExitStatus(), 1);
  int incompatible = 0, missing = 0;
  for (const Diagnostic& d : t.diagnostics) {
    incompatible += d.code == "incompatible-duplicate";
    missing += d.code == "path-missing";
  }
  EXPECT_EQ(incompatible, 1);
  EXPECT_EQ(missing, 1);
}

TEST(Knfsd, RenderedFileReparsesToSameEtab) {
  FakeFileSystem fs;
  fs.AddDir("/srv/a");
  fs.AddDir("/srv/sp ace");
  fs.AddFile("/e",
             "\"/srv/sp ace\" -async *(rw,sec=sys,rw,sec=krb5,ro) @ng\n"
             "/srv/a 10.0.0.0/8(fsid=3,anonuid=7,squash_uids=5) *.lab(nohide)\n");
  NoDnsResolver dns;
  ExportTable t1 = BuildTable({Source::File("/e")}, fs, dns, {});
  KnfsdPlan plan = RenderKnfsd(t1);
  fs.AddFile("/r", plan.exports_file);
  ExportTable t2 = BuildTable({Source::File("/r")}, fs, dns, {});
  ASSERT_EQ(t1.exports.size(), t2.exports.size());
  for (size_t i = 0; i < t1.exports.size(); ++i) {
    EXPECT_EQ(RenderEtabLine(t1, t1.exports[i]), RenderEtabLine(t2, t2.exports[i]));
  }
  EXPECT_EQ(t2.ExitStatus(), 0);
}

}  // namespace
}  // namespace hafs::exports
