"""Tests for the hafs_exports Python extension (bindings/python).

Run by hafs_exports_test.sh with Debian's /usr/bin/python3 and PYTHONPATH set
to the directory of the built hafs_exports.so.
"""
import os
import tempfile
import unittest

import hafs_exports as ex

FULL_RW = ("rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,"
           "no_subtree_check,secure_locks,acl,no_pnfs,anonuid=65534,"
           "anongid=65534,sec=sys,rw,root_squash,no_all_squash")
FULL_RO = FULL_RW.replace("rw,", "ro,")


class EtabTest(unittest.TestCase):

    def test_canonical_line(self):
        self.assertEqual(
            ex.etab("/srv 10.0.0.0/24(rw,no_subtree_check)\n"),
            ["/srv\t10.0.0.0/24(" + FULL_RW + ")"])

    def test_exportfs_order_and_defaults_line(self):
        # Per client kind (host before subnet before wildcard), "-ro" defaults.
        lines = ex.etab("/a *(rw) 10.0.0.0/8(rw) h1(rw)\n/b -ro h2\n")
        self.assertEqual([l.split("(")[0] for l in lines],
                         ["/b\th2", "/a\th1", "/a\t10.0.0.0/8", "/a\t*"])
        self.assertEqual(lines[0], "/b\th2(" + FULL_RO + ")")

    def test_bad_entry_ends_the_file(self):
        self.assertEqual(
            [l.split("(")[0] for l in ex.etab("/a h(rw)\n/b h(rw,sycn)\n/c h(ro)\n")],
            ["/a\th"])

    def test_bytes_and_non_utf8_paths_round_trip(self):
        lines = ex.etab(b"/srv/caf\xe9 *(ro)\n")
        self.assertEqual(len(lines), 1)
        path = lines[0].split("\t")[0]
        self.assertEqual(path.encode("utf-8", "surrogateescape"), b"/srv/caf\xe9")
        self.assertEqual(ex.etab(path + " *(ro)\n"), lines)

    def test_hosts_text_resolves_names_and_drops_unknown(self):
        lines = ex.etab("/srv alpha(rw) beta(ro)\n", hosts="10.0.0.5 alpha.lab alpha\n")
        self.assertEqual(lines, ["/srv\talpha.lab(" + FULL_RW + ")"])

    def test_no_dns_keeps_names_lower_cased(self):
        self.assertEqual([l.split("(")[0] for l in ex.etab("/srv Alpha(rw)\n")],
                         ["/srv\talpha"])

    def test_kernel_secinfo(self):
        line = ex.etab("/srv h(rw,insecure)\n", kernel_secinfo=True)[0]
        self.assertTrue(line.endswith("sec=sys,rw,insecure,root_squash,no_all_squash)"), line)

    def test_xprtsec_needs_the_flag(self):
        text = "/srv h(rw,xprtsec=tls)\n"
        self.assertEqual(ex.etab(text), [])
        self.assertEqual(len(ex.etab(text, xprtsec=True)), 1)


class LintTest(unittest.TestCase):

    def test_clean_file_has_no_diagnostics(self):
        self.assertEqual(ex.lint("/srv 10.0.0.1(ro,sync,no_subtree_check)\n"), [])

    def test_space_before_paren(self):
        diags = ex.lint("/srv host (rw)\n", "exports.test")
        errors = [d for d in diags if d["severity"] == "error"]
        self.assertEqual(len(errors), 1, diags)
        d = errors[0]
        self.assertEqual(
            {k: d[k] for k in ("file", "line", "col", "severity", "code")},
            {"file": "exports.test", "line": 1, "col": 11, "severity": "error",
             "code": "space-before-paren"})
        self.assertIn("creates two entries", d["message"])
        self.assertEqual(d["hint"], 'write "host(rw)" without the space')
        self.assertTrue(d["text"].startswith("exports.test:1:11: error: "), d["text"])
        self.assertEqual(set(d), {"file", "line", "col", "severity", "code",
                                  "message", "hint", "text"})
        self.assertIn("world-rw", [x["code"] for x in diags])

    def test_misspelled_option_and_rest_ignored(self):
        diags = ex.lint("/a h(rw,sync,no_subtree_check)\n/b h(rw,sycn)\n/c h(ro)\n")
        self.assertEqual([(d["line"], d["code"]) for d in diags],
                         [(2, "unknown-option"), (2, "rest-ignored")])
        self.assertIn('did you mean "sync"?', diags[0]["hint"])

    def test_paths_are_not_checked_unless_asked(self):
        text = "/no/such/hafs-dir h(ro,sync,no_subtree_check)\n"
        self.assertEqual(ex.lint(text), [])
        self.assertEqual([d["code"] for d in ex.lint(text, check_paths=True)],
                         ["path-missing"])

    def test_check_paths_resolves_symlinks_and_gives_default_hint(self):
        with tempfile.TemporaryDirectory(prefix="hafs_exports_test") as d:
            real = os.path.realpath(d)
            os.mkdir(os.path.join(real, "data"))
            os.symlink(os.path.join(real, "data"), os.path.join(real, "link"))
            open(os.path.join(real, "file"), "w").close()
            lines = ex.etab(f"{real}/link h(ro)\n", check_paths=True)
            self.assertEqual([l.split("\t")[0] for l in lines], [f"{real}/data"])
            diags = ex.lint(f"{real}/file h(ro,sync,no_subtree_check)\n",
                            check_paths=True)
            self.assertEqual([x["code"] for x in diags], ["not-a-directory"])
            self.assertEqual(diags[0]["hint"], "see exports(5) and docs/exports.md")


class MatchTest(unittest.TestCase):
    TEXT = ("/srv 10.0.0.0/24(rw,sync,no_subtree_check) "
            "10.0.0.7(ro,sync,no_subtree_check) @ng(ro)\n"
            "/home *.lab(rw,sync,no_subtree_check)\n")

    def test_host_beats_subnet_and_wildcard_uses_hostname(self):
        res = ex.match(self.TEXT, "10.0.0.7", hostname="n7.lab")
        self.assertEqual([(r["path"], r["client"], r["kind"]) for r in res],
                         [("/srv", "10.0.0.7", "host"), ("/home", "*.lab", "wildcard")])
        self.assertEqual(res[0]["options"], FULL_RO)
        self.assertEqual(res[0]["shadowed"],
                         [{"client": "10.0.0.0/24", "kind": "subnet",
                           "file": "/etc/exports", "line": 1}])
        self.assertEqual(res[1]["line"], 2)

    def test_subnet_without_hostname(self):
        res = ex.match(self.TEXT, "10.0.0.9")
        self.assertEqual([(r["path"], r["client"]) for r in res], [("/srv", "10.0.0.0/24")])
        self.assertTrue(res[0]["options"].startswith("rw,"))

    def test_netgroup_and_no_match(self):
        self.assertEqual(ex.match(self.TEXT, "192.168.1.1"), [])
        res = ex.match(self.TEXT, "192.168.1.1", netgroups=["@ng"])
        self.assertEqual([(r["path"], r["kind"]) for r in res], [("/srv", "netgroup")])

    def test_ipv6(self):
        res = ex.match("/v6 fd00::/64(rw)\n", "fd00::5")
        self.assertEqual([r["client"] for r in res], ["fd00::/64"])

    def test_bad_address_is_value_error(self):
        with self.assertRaisesRegex(ValueError, "not an IP address"):
            ex.match(self.TEXT, "n7.lab")


class GaneshaTest(unittest.TestCase):

    def test_blocks_in_precedence_order(self):
        conf = ex.ganesha(MatchTest.TEXT)
        self.assertEqual(conf.count("EXPORT {"), 2)
        self.assertIn('Path = "/srv";', conf)
        self.assertIn("Protocols = 4;", conf)
        srv = conf[conf.index('Path = "/srv"'):conf.index('Path = "/home"')]
        order = [srv.index(c) for c in ("Clients = 10.0.0.7;", "Clients = 10.0.0.0/24;",
                                        "Clients = @ng;")]
        self.assertEqual(order, sorted(order))

    def test_empty_text(self):
        self.assertNotIn("EXPORT {", ex.ganesha(""))


class ArgumentsTest(unittest.TestCase):

    def test_type_errors(self):
        with self.assertRaisesRegex(TypeError, "text must be str or bytes, not int"):
            ex.etab(42)
        with self.assertRaisesRegex(TypeError, "hosts must be str or bytes"):
            ex.etab("/srv h(ro)\n", hosts=["10.0.0.1 h"])
        with self.assertRaises(TypeError):  # options are keyword-only
            ex.etab("/srv h(ro)\n", "/etc/exports", None)

    def test_empty_filename(self):
        with self.assertRaises(ValueError):
            ex.lint("/srv h(ro)\n", "")

    def test_garbage_never_crashes(self):
        for text in [b"\x00\xff\"\\\n(", b"/" * 5000 + b" h(ro)\n", b"/a \"unterminated",
                     b"/a h(" + b"rw," * 3000 + b")\n"]:
            ex.etab(text)
            ex.lint(text)
            ex.ganesha(text)
            ex.match(text, "10.0.0.1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
