#!/usr/bin/env bash
# Picture uploads: the peak memory of `listbridge serve` while eight members upload a profile
# picture at the same moment, for the two pictures that cost most:
#   1. "huge":    an almost empty 8000x8000 PNG (a few hundred KB; 250 MB if it were decoded),
#                 which must be refused from its header without being decoded;
#   2. "largest": the largest picture accepted, a 4096x4096 PNG with alpha (64 MB decoded).
#
#   bench/uploads.sh
#
# In one go: builds the release binary (or takes LISTBRIDGE_BIN, e.g. a debug build for a
# quick check that the script works); makes eight members (`admin create`; each signs in with
# its one-time link, so the per-member upload limit does not hide the decodes); then, for each
# picture, starts a fresh `listbridge serve`, reads its resident memory once it answers
# (VmRSS), fires the eight uploads at once with curl, and reads the peak (VmHWM) when all have
# answered. Prints, per picture: the answers' status codes, the baseline and peak RSS in MB,
# and the wall time of the eight uploads.
#
# Environment: UPLOADS (default 8), LISTBRIDGE_BIN (skip the build), KEEP=1 keeps the work
# folder. Needs curl and python3. Takes under a minute after the build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
UPLOADS="${UPLOADS:-8}"

need_tools curl python3

serve_pid=""
bench_stop() { stop_pid "$serve_pid"; }
make_work /tmp/lbup.XXXXXX

show_start "listbridge picture uploads benchmark"

if [ -n "${LISTBRIDGE_BIN:-}" ]; then
  bin="$LISTBRIDGE_BIN"
  [ -x "$bin" ] || die "no binary at $bin"
else
  say "building the release binary"
  build_release 1200
fi

# The two pictures, written with Python's zlib (no imaging library needed): every pixel the
# same, so the files are small and the cost is all in the decode.
python3 - "$work" <<'PY'
import struct, sys, zlib

def png(path, width, height, colour_type, channels):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\0" + b"\x80" * (width * channels)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)))
        f.write(chunk(b"IDAT", idat))
        f.write(chunk(b"IEND", b""))

png(sys.argv[1] + "/huge.png", 8000, 8000, 0, 1)
png(sys.argv[1] + "/largest.png", 4096, 4096, 6, 4)
PY
say "pictures: huge.png $(($(stat -c %s "$work/huge.png") / 1024)) KB (8000x8000), largest.png $(($(stat -c %s "$work/largest.png") / 1024)) KB (4096x4096 RGBA)"

web_only "Upload bench" snug
"${lb[@]}" check-config >"$work/check.log" 2>&1 || fail_with "$work/check.log" "check-config failed"

# The members: links made before the server starts, used once it answers.
links=()
for n in $(seq "$UPLOADS"); do
  links+=("$(admin_link "$work/admin$n.log" "member$n@upload.test" "Member $n")")
done

start_serve "$work/serve-setup.log"
for n in $(seq "$UPLOADS"); do
  jar="$work/cookies$n"
  link="${links[$((n - 1))]}"
  page="$(curl -sS -c "$jar" -b "$jar" "$link")"
  token="$(grep -o 'name="form_token" value="[^"]*"' <<<"$page" | head -1 | cut -d'"' -f4)"
  [ -n "$token" ] || die "member $n: no form token on the link's page"
  path="/signin/${link##*/signin/}"
  path="${path%%\?*}"
  status="$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    --data-urlencode "form_token=$token" --data-urlencode "next=/" "$base$path")"
  [ "$status" = 303 ] || die "member $n: signing in answered $status"
  csrf="$(curl -sS -b "$jar" "$base/account" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)"
  [ -n "$csrf" ] || die "member $n: no CSRF token on /account"
  echo "$csrf" >"$work/csrf$n"
done
stop_pid "$serve_pid"
serve_pid=""

echo
printf '%-8s %-28s %10s %10s %8s\n' picture "answers" "RSS MB" "peak MB" "wall s"
for picture in huge largest; do
  start_serve "$work/serve-$picture.log"
  sleep 0.5
  rss=$(vm_kib "$serve_pid" VmRSS)
  started=$(date +%s.%N)
  pids=()
  for n in $(seq "$UPLOADS"); do
    curl -sS -o /dev/null -w '%{http_code}\n' -b "$work/cookies$n" \
      -F "csrf=$(cat "$work/csrf$n")" -F "avatar=@$work/$picture.png;type=image/png" \
      "$base/account/avatar" >"$work/status-$picture-$n" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  ended=$(date +%s.%N)
  peak=$(vm_kib "$serve_pid" VmHWM)
  answers="$(cat "$work"/status-"$picture"-* | sort | uniq -c | awk '{ printf "%s%dx%s", (NR > 1 ? " " : ""), $1, $2 }')"
  awk -v p="$picture" -v a="$answers" -v r="$rss" -v h="$peak" -v s="$started" -v e="$ended" \
    'BEGIN { printf "%-8s %-28s %10.1f %10.1f %8.2f\n", p, a, r / 1024, h / 1024, e - s }'
  stop_pid "$serve_pid"
  serve_pid=""
done
echo "(huge: refused from its header, 400 expected; largest: accepted, 303 expected)"
