// Matcher precedence table: knfsd/mountd order is single host > subnet >
// wildcard > netgroup > anonymous regardless of position on the line; file
// order within a kind; gss/* never matches an address.
#include "libhafs/exports/match.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libhafs/exports/testing.h"

namespace hafs::exports {
namespace {

struct Case {
  const char* name;
  const char* line;      // clients for /srv/a, in file order
  const char* addr;
  const char* hostname;
  std::vector<std::string> netgroups;
  const char* want;      // winning client as etab shows it, "" = none
};

class MatchTable : public ::testing::TestWithParam<Case> {};

TEST_P(MatchTable, Winner) {
  const Case& c = GetParam();
  FakeFileSystem fs;
  fs.AddDir("/srv/a");
  fs.AddFile("/e", std::string("/srv/a ") + c.line + "\n");
  NoDnsResolver dns;
  TableOptions to;
  ExportTable t = BuildTable({Source::File("/e")}, fs, dns, to);
  Matcher m(t);
  MatchQuery q;
  q.addr = ParseIp(c.addr);
  ASSERT_TRUE(q.addr.has_value()) << c.addr;
  q.hostname = c.hostname;
  q.netgroups = c.netgroups;
  int w = m.MatchPath("/srv/a", q);
  std::string got = w < 0 ? "" : t.clients[t.exports[w].client].hostname;
  EXPECT_EQ(got, c.want) << c.name << ": " << c.line;
}

INSTANTIATE_TEST_SUITE_P(
    Precedence, MatchTable,
    ::testing::Values(
        Case{"host beats anon", "*(rw) 10.0.0.1(ro)", "10.0.0.1", "", {}, "10.0.0.1"},
        Case{"host beats subnet", "10.0.0.0/8(rw) 10.0.0.1(ro)", "10.0.0.1", "", {}, "10.0.0.1"},
        Case{"subnet beats wildcard", "*.lab(rw) 10.0.0.0/8(ro)", "10.0.0.1", "n1.lab", {}, "10.0.0.0/8"},
        Case{"wildcard beats netgroup", "@ng(rw) *.lab(ro)", "10.0.0.1", "n1.lab", {"ng"}, "*.lab"},
        Case{"netgroup beats anon", "*(rw) @ng(ro)", "10.0.0.1", "", {"ng"}, "@ng"},
        Case{"anon last", "*(rw) @ng(ro) *.lab 10.9.0.0/16", "10.0.0.1", "x.other", {"zz"}, "*"},
        Case{"subnet order in file", "10.0.0.0/8(rw) 10.0.0.0/24(ro)", "10.0.0.1", "", {}, "10.0.0.0/8"},
        Case{"subnet order reversed", "10.0.0.0/24(rw) 10.0.0.0/8(ro)", "10.0.0.1", "", {}, "10.0.0.0/24"},
        Case{"dotted mask", "10.0.0.0/255.255.0.0(rw)", "10.0.200.1", "", {}, "10.0.0.0/255.255.0.0"},
        Case{"dotted mask miss", "10.0.0.0/255.255.0.0(rw)", "10.1.0.1", "", {}, ""},
        Case{"v6 subnet", "2001:db8::/32(rw) *.lab", "2001:db8:1::5", "n.lab", {}, "2001:db8::/32"},
        Case{"v6 host", "2001:db8::/32(rw) 2001:db8::5(ro)", "2001:db8::5", "", {}, "2001:db8::5"},
        Case{"v4 does not match v6 subnet", "2001:db8::/32(rw)", "10.0.0.1", "", {}, ""},
        Case{"wildcard ? and []", "n?.lab(rw) m[0-3].lab(ro)", "10.0.0.1", "m2.lab", {}, "m[0-3].lab"},
        Case{"wildcard negated set", "m[!0-3].lab(ro)", "10.0.0.1", "m2.lab", {}, ""},
        Case{"wildcard star matches dots", "*.lab(ro)", "10.0.0.1", "a.b.lab", {}, "*.lab"},
        Case{"wildcard case-insensitive", "*.LAB(ro)", "10.0.0.1", "n.lab", {}, "*.LAB"},
        Case{"wildcard needs a name", "*.lab(ro)", "10.0.0.1", "", {}, ""},
        Case{"host by name", "alpha(rw) *(ro)", "10.0.0.1", "ALPHA", {}, "alpha"},
        Case{"gss never matches", "gss/krb5(rw)", "10.0.0.1", "", {}, ""},
        Case{"empty client is anonymous", "(rw)", "10.0.0.1", "", {}, "*"},
        Case{"netgroup not member", "@ng(rw)", "10.0.0.1", "", {"other"}, ""},
        Case{"within host kind file order", "10.0.0.1(rw) 10.0.0.2 10.0.0.1(ro)", "10.0.0.1", "", {}, "10.0.0.1"}),
    [](const ::testing::TestParamInfo<Case>& i) {
      std::string n = i.param.name;
      for (char& ch : n) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(Match, ShadowedListedInPrecedenceOrder) {
  FakeFileSystem fs;
  fs.AddDir("/srv/a");
  fs.AddDir("/srv/b");
  fs.AddFile("/e", "/srv/a * @ng *.lab 10.0.0.0/8 10.0.0.1\n/srv/b 10.9.9.9\n");
  NoDnsResolver dns;
  ExportTable t = BuildTable({Source::File("/e")}, fs, dns, {});
  Matcher m(t);
  MatchQuery q;
  q.addr = ParseIp("10.0.0.1");
  q.hostname = "n.lab";
  q.netgroups = {"ng"};
  std::vector<PathMatch> r = m.Match(q);
  ASSERT_EQ(r.size(), 1u);
  std::vector<std::string> order;
  order.push_back(t.clients[t.exports[r[0].winner].client].hostname);
  for (int s : r[0].shadowed) order.push_back(t.clients[t.exports[s].client].hostname);
  EXPECT_EQ(order, (std::vector<std::string>{"10.0.0.1", "10.0.0.0/8", "*.lab",
                                             "@ng", "*"}));
}

}  // namespace
}  // namespace hafs::exports
