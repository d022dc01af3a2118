#!/usr/bin/env bash
# Import benchmark: listbridge against `notmuch new` and `mu index` on the same messages.
#
#   bench/import.sh [ARCHIVE.mbox.gz]      (default: ../shared/corpora/archives/linux-man.mbox.gz)
#
# listbridge imports the .mbox.gz as an admin would (decompression, parsing, threading and the
# full-text index included); notmuch and mu index the same messages written out as a Maildir.
# Prints wall time, messages per second, peak memory (max RSS) and on-disk size for each, the
# ratios, and then a 10x larger generated archive (ids made unique per copy) for listbridge's
# memory and speed at scale (SKIP_LARGE=1 skips it). Installs notmuch and mu when missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
archive="$(realpath "${1:-../shared/corpora/archives/linux-man.mbox.gz}")"
[ -f "$archive" ] || die "no archive at $archive"

need_tools notmuch mu=maildir-utils /usr/bin/time=time
build_release
keep_on_failure=0
make_work "${TMPDIR:-/tmp}/listbridge-bench.XXXXXX"

# measure NAME CMD...: runs CMD under GNU time, prints and records "seconds max_rss_kib".
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" \
    || { echo "bench: $name failed:" >&2; tail -20 "$work/$name.err" >&2; exit 1; }
  read -r secs rss <"$work/$name.time"
  eval "${name}_secs=$secs ${name}_rss=$rss"
}

echo "archive: $archive ($(du -h "$archive" | cut -f1) compressed, $(zcat "$archive" | wc -c) bytes raw)"
echo "writing the messages as a Maildir for notmuch and mu ..."
messages=$(python3 "$root/bench/benchlib.py" maildir "$archive" "$work/maildir")
echo "$messages messages" >&2

notmuch_config "$work/notmuch-config" "$work/maildir"
echo "notmuch new ..."
measure notmuch env NOTMUCH_CONFIG="$work/notmuch-config" notmuch new
echo "mu index ..."
mu init --muhome="$work/mu" --maildir="$work/maildir" >/dev/null
measure mu mu index --muhome="$work/mu"
echo "listbridge import ..."
measure lb "$bin" --db "$work/lb.db" import "$archive"
grep -q "imported" "$work/lb.out" || { cat "$work/lb.out"; exit 1; }
cp "$work/lb.out" "$work/lb.first"
echo "listbridge import again (nothing new) ..."
measure again "$bin" --db "$work/lb.db" import "$archive"
mv "$work/lb.first" "$work/lb.out"

size() { du -cb "$@" 2>/dev/null | tail -1 | cut -f1; }
raw_bytes=$(zcat "$archive" | wc -c)
lb_size=$(size "$work"/lb.db*)
nm_size=$(size "$work/maildir/.notmuch")
mu_size=$(size "$work/mu")

report() { # name secs rss size
  awk -v n="$1" -v s="$2" -v r="$3" -v z="$4" -v m="$messages" \
    'BEGIN { printf "%-11s %7.2f s %8.0f msg/s %7.0f MB peak %8.1f MB on disk\n", n, s, m/s, r/1024, z/1e6 }'
}
echo
echo "== $messages messages"
report listbridge "$lb_secs" "$lb_rss" "$lb_size"
report notmuch "$notmuch_secs" "$notmuch_rss" "$nm_size"
report mu "$mu_secs" "$mu_rss" "$mu_size"
awk -v l="$lb_secs" -v n="$notmuch_secs" -v m="$mu_secs" -v s="$lb_size" -v r="$raw_bytes" 'BEGIN {
  printf "throughput: %.1fx notmuch new, %.1fx mu index\n", n/l, m/l
  printf "listbridge database (raw store + index): %.1f MB = %.0f%% of the uncompressed mbox (%.1f MB)\n", s/1e6, 100*s/r, r/1e6 }'
awk -v a="$again_secs" -v l="$lb_secs" -v r="$again_rss" \
  'BEGIN { printf "import again, unchanged archive: %.2f s = %.0f%% of the first import, %.0f MB peak\n", a, 100*a/l, r/1024 }'
echo "listbridge summary:"; sed 's/^/  /' "$work/lb.out"

if [ "${SKIP_LARGE:-0}" != 1 ]; then
  echo
  echo "== 10x archive: generating 10 copies with unique ids ..."
  python3 - "$archive" "$work/large.mbox" <<'PY'
import gzip, re, sys
src, dest = sys.argv[1], sys.argv[2]
data = gzip.open(src, "rb").read()
ids = re.compile(rb"<([^<>@\s]+@[^<>\s]+)>")
with open(dest, "wb") as out:
    for k in range(10):
        tag = b".copy%d" % k
        out.write(ids.sub(lambda m: b"<" + m.group(1).replace(b"@", tag + b"@", 1) + b">", data))
PY
  large_msgs=$((messages * 10))
  measure large "$bin" --db "$work/large.db" import "$work/large.mbox"
  awk -v s="$large_secs" -v r="$large_rss" -v m="$large_msgs" -v z="$(size "$work"/large.db*)" -v b="$(stat -c %s "$work/large.mbox")" \
    'BEGIN { printf "listbridge  %d messages: %.1f s, %.0f msg/s, %.0f MB peak, database %.0f MB = %.0f%% of the mbox\n", m, s, m/s, r/1024, z/1e6, 100*z/b }'
fi
