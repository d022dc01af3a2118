#!/usr/bin/env bash
# The performance table of the README in one go, with the commit and date it measures:
#
#   bench/run-all.sh [OUT.md]        (default: bench/results-COMMIT.md)
#
# Runs, one after the other on a machine doing nothing else: the import against notmuch and
# mu (bench/import.sh, the 10x archive skipped), the web forum against nginx and notmuch with
# the memory crawl (bench/web.sh), search alone on an archive of 84,000 messages
# (`ARCHIVE=large PARTS=search bench/web.sh`), the hostile searches and sign-ins
# (bench/side_doors.sh), and the in-process rendering and tagging benchmarks (cargo bench). Every figure of a row comes
# from this one run, each ratio from figures of the same run; the full output of each part is
# kept beside the table (OUT.md.d/). Needs the shared corpora (LISTBRIDGE_CORPORA).
set -euo pipefail
cd "$(dirname "$0")/.."
commit="$(git rev-parse --short HEAD)"
dirty=""
git diff --quiet HEAD -- src Cargo.toml Cargo.lock || dirty=" (with uncommitted changes)"
out="${1:-bench/results-$commit.md}"
logs="$out.d"
mkdir -p "$logs"
run() { # NAME CMD...: runs CMD, its output in $logs/NAME.txt
  local name="$1"
  shift
  echo "[run-all $(date +%T)] $name ..." >&2
  "$@" >"$logs/$name.txt" 2>&1 || {
    tail -20 "$logs/$name.txt" >&2
    echo "bench/run-all.sh: $name failed (output in $logs/$name.txt)" >&2
    exit 1
  }
}
run import env SKIP_LARGE=1 bench/import.sh
run web bench/web.sh
run web-large env ARCHIVE=large PARTS=search bench/web.sh
run side_doors bench/side_doors.sh
run render cargo bench --bench render
run tagging cargo bench --bench tagging

pick() { grep -E "$2" "$logs/$1.txt" | head -1 | sed 's/^ *//'; }
{
  echo "# Performance at $commit$dirty, $(date -u +%Y-%m-%d)"
  echo
  echo "$(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| part | figure |"
  echo "|---|---|"
  for row in \
    "import|listbridge +[0-9.]+ s" "import|^notmuch +[0-9.]+ s" "import|^mu +[0-9.]+ s" \
    "import|throughput:" "import|^import again" \
    "web|^thread page +[0-9]" "web|^nginx static" "web|listbridge/nginx" \
    "web|^thread page, signed in" "web|^search \(32c\)" "web|^search \(1c\)" \
    "web|^notmuch search" "web|^server memory" "web|^  memory:" "web|^search uncached" \
    "web-large|^search \(32c\)" "web-large|^search \(1c\)" "web-large|^search uncached" \
    "side_doors|slowest" "render|messages/s" "tagging|messages/s"; do
    line="$(pick "${row%%|*}" "${row#*|}")"
    [ -n "$line" ] && echo "| ${row%%|*} | $line |"
  done
  echo
  echo "Targets (bench/web.sh):"
  echo
  sed -n '/^targets:/,/^$/p' "$logs/web.txt" | sed 's/^/    /'
  echo
  echo "Search targets on 84,000 messages (ARCHIVE=large PARTS=search bench/web.sh):"
  echo
  sed -n '/^targets:/,/^$/p' "$logs/web-large.txt" | sed 's/^/    /'
} >"$out"
cat "$out"
