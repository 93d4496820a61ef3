#!/usr/bin/env bash
# Runs //examples:exports_check on testdata/example.exports and checks its
# output: the diagnostics (position, severity and code of each, in order; the
# wording is libhafs/exports' business), the exit status and the etab lines.
set -uo pipefail
bin="$1"
exports="$2"

out="$("$bin" "$exports")"
rc=$?
fail=0
if [[ $rc -ne 2 ]]; then
  echo "FAIL: exit status $rc, want 2 (errors)"; fail=1
fi

# "FILE:LINE:COL: severity: ... [code]" -> "LINE:COL severity code"
got_diags="$(sed -n 's/^[^ ]*example\.exports:\([0-9]*:[0-9]*\): \(error\|warning\): .*\[\([a-z-]*\)\]$/\1 \2 \3/p' <<<"$out")"
want_diags="3:51 warning no-subtree-option
4:13 warning world-rw
4:13 warning world-no-root-squash
5:13 warning no-options
5:13 warning no-subtree-option
5:24 error space-before-paren
5:24 warning no-subtree-option
6:1 error path-missing
7:25 error unknown-option
7:25 error rest-ignored"
if [[ "$got_diags" != "$want_diags" ]]; then
  echo "FAIL: diagnostics differ"
  diff <(echo "$want_diags") <(echo "$got_diags")
  fail=1
fi
if ! grep -qF 'hint: did you mean "sync"?' <<<"$out"; then
  echo "FAIL: no suggestion for the misspelled option"; fail=1
fi
if ! grep -qF '== diagnostics (10)' <<<"$out"; then
  echo "FAIL: diagnostics header"; fail=1
fi

# etab: exportfs order (per client kind, by path hash bucket); nothing after
# the bad line 7 (/usr/lib, /opt) is exported.
got_etab="$(sed -n '/^== etab/,$p' <<<"$out" | sed '2,$s/(.*//')"
want_etab="$(printf '%s\n' '== etab (6)' \
  '/no/such/hafs-dir	10.0.0.9' \
  '/usr/share	backup.lab' \
  '/tmp	client1.lab' \
  '/tmp	10.0.0.0/24' \
  '/usr/share	*' \
  '/var/tmp	*')"
if [[ "$got_etab" != "$want_etab" ]]; then
  echo "FAIL: etab entries differ"
  diff <(echo "$want_etab") <(echo "$got_etab")
  fail=1
fi
# The full option text of one line, as putexportent() writes it.
want_line=$'/var/tmp\t*(rw,sync,wdelay,hide,nocrossmnt,secure,no_root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,anonuid=65534,anongid=65534,sec=sys,rw,no_root_squash,no_all_squash)'
if ! grep -qxF "$want_line" <<<"$out"; then
  echo "FAIL: /var/tmp etab line missing or different"; fail=1
fi

# Usage error.
"$bin" >/dev/null 2>&1
if [[ $? -ne 64 ]]; then echo "FAIL: no-argument run should exit 64"; fail=1; fi

if [[ $fail -ne 0 ]]; then
  echo "--- output ---"; echo "$out"
  exit 1
fi
echo "PASS"
