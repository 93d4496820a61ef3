#!/bin/bash
# Differential test: `hafsctl exports etab` against nfs-utils' own
# `exportfs -ra` (/usr/sbin/exportfs, nfs-kernel-server 2.6.2).
#
# For every case in testdata/corpus (NAME.exports = /etc/exports alone;
# NAME.d/ = optional exports + exports.d/) both tools run in ONE private
# mount namespace (unshare -m) in which:
#   - /etc is an overlay (upper layer in a temp dir), so /etc/exports,
#     /etc/exports.d, /etc/hosts and /etc/nsswitch.conf can be replaced
#     without touching the host (falls back to bind mounts of a copy of /etc);
#   - /etc/hosts is testdata/hosts and nsswitch has "hosts: files", so name
#     resolution is deterministic and never uses DNS (names not in the file
#     fail to resolve in both tools);
#   - /var/lib/nfs is a temp dir (fresh per case);
#   - /srv is a tmpfs with a fixed tree (dirs, a file, a symlink).
# The kernel nfsd is not needed: without /proc/net/rpc/*/channel exportfs
# still writes etab (checked) and skips the kernel test export.
# Compared per case: the etab bytes and the exit status.
#
# Root is required. Non-root: skip with a message, unless CI is set (fail).
set -u

HAFSCTL="$(realpath "$1")"
CORPUS="$(realpath "$2")"
HOSTS="$(realpath "$3")"
GEN="$(realpath "${4:-}" 2>/dev/null || true)"
# Random files (never seen before): seeded; override with HAFS_EXPORTS_SEED.
SEED="${HAFS_EXPORTS_SEED:-$(date +%s)}"
RANDOM_COUNT="${HAFS_EXPORTS_RANDOM:-60}"
EXPORTFS=/usr/sbin/exportfs

if [ "$(id -u)" != 0 ]; then
  if [ -n "${CI:-}" ]; then
    echo "FAIL: the exportfs differential test needs root (CI is set)" >&2
    exit 1
  fi
  echo "SKIP: exportfs differential test needs root (run as root or in CI)" >&2
  exit 0
fi
for tool in "$EXPORTFS" unshare mount; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool not found (install nfs-kernel-server / util-linux)" >&2
    exit 1
  fi
done

WORK="$(mktemp -d /tmp/hafs-exportfs-diff.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

ALL="$WORK/cases"
mkdir -p "$ALL"
cp -a "$CORPUS"/. "$ALL"/
if [ -n "$GEN" ] && [ "$RANDOM_COUNT" -gt 0 ]; then
  python3 "$GEN" "$SEED" "$RANDOM_COUNT" "$ALL" || { echo "FAIL: generator" >&2; exit 1; }
  echo "random cases: $RANDOM_COUNT (seed=$SEED; rerun with HAFS_EXPORTS_SEED=$SEED)"
fi
CORPUS="$ALL"

cat > "$WORK/inner.sh" <<'INNER'
#!/bin/bash
# Runs inside the private mount namespace.
set -u
WORK="$1"; HAFSCTL="$2"; CORPUS="$3"; HOSTS="$4"; EXPORTFS="$5"
mount --make-rprivate / || exit 3
mkdir -p "$WORK/upper" "$WORK/ovwork" "$WORK/lib" "$WORK/out"
if ! mount -t overlay overlay \
    -o "lowerdir=/etc,upperdir=$WORK/upper,workdir=$WORK/ovwork" /etc 2>/dev/null; then
  # No overlayfs: bind a private copy of /etc over /etc.
  cp -a /etc "$WORK/etc-copy" && mount --bind "$WORK/etc-copy" /etc || exit 3
fi
cp "$HOSTS" /etc/hosts || exit 3
printf 'hosts: files\nnetgroup: files\npasswd: files\ngroup: files\n' > /etc/nsswitch.conf
rm -f /etc/nfs.conf.d/* 2>/dev/null
mount --bind "$WORK/lib" /var/lib/nfs || exit 3
mount -t tmpfs tmpfs /srv || exit 3
mkdir -p /srv/a/b/c /srv/b /srv/c /srv/x "/srv/sp ace" "/srv/h#sh" '/srv/a\b' \
  /srv/A /srv/p{0..11} /srv/srv/a || exit 3
: > /srv/file
ln -s /srv/a /srv/link
cd /srv || exit 3
fail=0; n=0
for c in "$CORPUS"/*; do
  name="$(basename "$c")"
  rm -rf /etc/exports /etc/exports.d "$WORK/lib"/*
  if [ -d "$c" ]; then
    [ -e "$c/exports" ] && cp "$c/exports" /etc/exports
    [ -d "$c/exports.d" ] && cp -a "$c/exports.d" /etc/exports.d
  else
    cp "$c" /etc/exports
  fi
  "$EXPORTFS" -ra >"$WORK/out/$name.exportfs.err" 2>&1
  want_rc=$?
  if [ -e "$WORK/lib/etab" ]; then cp "$WORK/lib/etab" "$WORK/out/$name.want"
  else : > "$WORK/out/$name.want"; fi
  "$HAFSCTL" exports etab -q --hosts /etc/hosts /etc/exports /etc/exports.d/ \
    >"$WORK/out/$name.got" 2>"$WORK/out/$name.err"
  got_rc=$?
  n=$((n+1))
  if [ "$want_rc" != "$got_rc" ] || ! cmp -s "$WORK/out/$name.want" "$WORK/out/$name.got"; then
    fail=$((fail+1))
    cp "$c" "$WORK/../hafs-exports-mismatch-$name" 2>/dev/null
    echo "MISMATCH $name: exportfs rc=$want_rc hafsctl rc=$got_rc"
    diff "$WORK/out/$name.want" "$WORK/out/$name.got" | head -20
    echo "--- hafsctl said:"; head -20 "$WORK/out/$name.err"
    echo "--- exportfs said:"; grep -v "Neither\|Assuming\|NOTE\|^$" "$WORK/out/$name.exportfs.err" | head -20
  else
    echo "ok $name (rc=$want_rc, $(wc -l < "$WORK/out/$name.want") lines)"
  fi
done
echo "cases=$n mismatches=$fail"
[ "$fail" = 0 ] && [ "$n" -ge 60 ]
INNER
chmod +x "$WORK/inner.sh"

unshare -m "$WORK/inner.sh" "$WORK" "$HAFSCTL" "$CORPUS" "$HOSTS" "$EXPORTFS"
rc=$?
if [ "$rc" != 0 ]; then
  echo "FAIL: differential test (rc=$rc)" >&2
  exit 1
fi
echo "PASS"
