#!/usr/bin/env python3
"""Seeded random exports(5) files for the exportfs differential test.

usage: gen_random_exports.py SEED COUNT OUTDIR
Writes OUTDIR/rand_<SEED>_<i>.exports, built from grammar fragments (paths of
the test fixture, every client kind, every option, sec= groups, -defaults,
comments, continuations, quotes, escapes, and occasional bad input).
"""
import os
import random
import sys

PATHS = ["/srv/a", "/srv/a/b", "/srv/a/b/c", "/srv/b", "/srv/c", "/srv/x", '"/srv/sp ace"',
         "/srv/sp\\040ace", "/srv/h#sh", "/srv/link", "/srv/a/", "/srv/missing", "/srv/file",
         "/srv/p1", "/srv/p2", "/srv/A", "srv/a"]
CLIENTS = ["*", "10.0.0.1", "10.0.0.2", "127.0.0.1", "localhost", "alpha", "ALPHA", "beta",
           "gamma.example.com", "hostx", "nosuch", "10.0.0.0/8", "10.0.0.0/255.255.0.0",
           "192.168.1.0/24", "2001:db8::/32", "::1", "2001:db8::5", "fe80::1%lo",
           "*.example.com", "n?.lab", "m[0-3].lab", "@ng", "@NG", "gss/krb5", "gss/krb5p", ""]
FLAGS = ["ro", "rw", "sync", "async", "wdelay", "no_wdelay", "hide", "nohide", "crossmnt",
         "nocrossmnt", "secure", "insecure", "root_squash", "no_root_squash", "all_squash",
         "no_all_squash", "subtree_check", "no_subtree_check", "auth_nlm", "no_auth_nlm",
         "secure_locks", "insecure_locks", "acl", "no_acl", "pnfs", "no_pnfs", "nordirplus",
         "security_label", "mp", "mountpoint=/srv", "refer=/x@s1+s2", "replicas=/y@s3",
         "fsid=1", "fsid=0", "fsid=root", "fsid=0x20", "anonuid=1000", "anongid=-2",
         "fsid=0123456789abcdef0123456789abcdef"]
# squash_uids=/squash_gids= are left out: exportfs 2.6.2 frees their lists twice
# (double free, abort) in some combinations; the corpus covers simple uses.
SECS = ["sys", "krb5", "krb5i", "krb5p", "unix", "none", "null", "sys:krb5", "krb5:krb5i:krb5p"]
BAD = ["RW", "bogus", "anonuid=x", "fsid=zz", "sec=krb4", "", "xprtsec=tls"]


def opts(r):
    out = []
    for _ in range(r.randint(0, 5)):
        x = r.random()
        if x < 0.15:
            out.append("sec=" + r.choice(SECS))
        elif x < 0.17:
            out.append(r.choice(BAD))
        else:
            out.append(r.choice(FLAGS))
    return ",".join(out)


def client(r):
    c = r.choice(CLIENTS)
    x = r.random()
    if x < 0.7:
        return "%s(%s)" % (c, opts(r))
    if x < 0.75:
        return "%s (%s)" % (c, opts(r))  # the space trap
    return c if c else "*"


def line(r):
    x = r.random()
    if x < 0.08:
        return "# comment " + client(r)
    if x < 0.1:
        return ""
    parts = [r.choice(PATHS)]
    if r.random() < 0.2:
        parts.append("-" + (opts(r) or "rw"))
    for _ in range(r.randint(0, 4)):
        parts.append(client(r))
    sep = " \\\n  " if r.random() < 0.1 else (" \t" if r.random() < 0.1 else " ")
    s = sep.join(parts)
    if r.random() < 0.1:
        s += "  # trailing"
    return s


def main():
    seed, count, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    for i in range(count):
        r = random.Random(seed * 100003 + i)
        text = "\n".join(line(r) for _ in range(r.randint(1, 12))) + "\n"
        with open(os.path.join(outdir, "rand_%d_%03d.exports" % (seed, i)), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
