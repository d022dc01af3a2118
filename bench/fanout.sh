#!/usr/bin/env bash
# Host-mode fan-out benchmark: one web post to 5,000 members through the local Postfix of the
# project's mail rig (scripts/mailrig), against a plain SMTP client handing the same mail to
# the same Postfix in the same run, with the web's latency measured while the copies go out.
#
#   bench/fanout.sh            (as root: the rig's servers start as root)
#
# In one go: builds the release binary; starts a private rig (members.test addresses are
# accepted by Postfix and discarded); warms Postfix up; then, twice (other work may share the
# CPU; the better figure of each kind is kept), on a fresh database each time:
#   1. listbridge: a host-mode list "snug" with N members (m0001@members.test ...) and an admin
#      (Alice, the author, so she gets no copy: N recipients). `listbridge serve` runs with
#      [outbound] pointing at the rig's Postfix (plain SMTP on loopback). Alice signs in with
#      her one-time link and posts a new thread on /l/snug/new. Timed from just before that
#      POST until `listbridge status --json` shows N copies sent (polled every 100 ms; a failed
#      copy fails the run): msgs/s.
#      While the copies go out (from the POST's answer until the last copy), wrk reads:
#        - the new thread's page /t/ID as a signed-out reader (READERS connections): the
#          target's figure. Signed-out thread pages are served from the server's page cache;
#        - the same page signed in as Alice (1 connection): never cached, rendered for her
#          with the delivery state of her post, which reads the N outbox rows per request.
#      wrk is paced (each connection waits PAUSE_MS between requests) so that the readers are a
#      busy forum, not a flood: unpaced, wrk alone takes a whole core of the two and measures
#      how the CPU is shared rather than the fan-out. PAUSE_MS=0 runs wrk unpaced.
#   2. baseline: Python's smtplib on ONE connection, reused, sends the same N copies (the post
#      as mailed, from the thread's mbox, each with its own Reply-To as listbridge's copies
#      have; envelope sender bounces@lists.test, one RCPT each) to the same Postfix: msgs/s.
#   Postfix's queue is drained before each timed phase. The listbridge phase runs first; the
#   baseline needs its copy. Target: listbridge >= 0.8 x baseline msgs/s, thread page p99
#   < 100 ms during the fan-out.
# The summary also shows the CPU time of listbridge and of Postfix in each phase, and how
# listbridge used its SMTP connections (from Postfix's log: connections, messages and NOOPs
# per connection).
#
# Environment: N (members, default 5000), READERS (signed-out wrk connections, default 4),
# PAUSE_MS (default 10), ROUNDS (default 2), KEEP=1 keeps the work folder, STRICT=1 exits 1
# when a target is missed. Installs wrk when missing. Takes about 2 minutes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N="${N:-5000}"
READERS="${READERS:-4}"
PAUSE_MS="${PAUSE_MS:-10}"
ROUNDS="${ROUNDS:-2}"
helper=(python3 "$root/bench/fanout_helper.py")
started=$(date +%s)

need_root
need_tools wrk curl python3

serve_pid=""
bench_stop() { stop_pid "$serve_pid"; }
make_work /tmp/lbfan.XXXXXX

show_start "listbridge fan-out benchmark"
load_start="$(load)"

say "building the release binary"
build_release 1200

say "starting a private mail rig in $work/rig"
start_rig
master_pid="$(awk '{ print $1 }' "$queue_dir/pid/master.pid")"
kill -0 "$master_pid" 2>/dev/null || die "Postfix's master ($master_pid) is not running"
qwait() { "${helper[@]}" qwait "$queue_dir" 120 || fail_with "$POSTFIX_LOG" "Postfix's queue did not drain"; }

# Postfix starts its smtpd, cleanup and delivery processes on demand: let them exist first.
say "warming Postfix up (500 mails)"
"${helper[@]}" baseline "$SMTP_HOST" "$SMTP_PORT" 500 - >/dev/null || fail_with "$POSTFIX_LOG" "the warm-up failed"
qwait

"${helper[@]}" roster "$N" "$work/roster.txt"

# wrk: the reader's pause, then bench/wrk_report.lua's machine-readable line at the end.
{
  echo "local pause = $PAUSE_MS"
  echo 'if pause > 0 then'
  echo '  delay = function() return pause end'
  echo 'end'
  cat "$root/bench/wrk_report.lua"
} >"$work/readers.lua"

# wrk_result FILE: "req/s p50 p95 p99 max errors" (ms) from a WRKRESULT line.
wrk_result() {
  local line
  line="$(grep '^WRKRESULT' "$1")" || fail_with "$1" "wrk printed no result"
  echo "$line" | awk '{ printf "%.1f %.2f %.2f %.2f %.2f %d\n",
    $2 / ($3 / 1e6), $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8 + $9 }'
}

# smtp_use FROM_LINE: Postfix's disconnect lines since line FROM_LINE of its log, as
# "connections messages noops".
smtp_use() {
  tail -n +"$1" "$POSTFIX_LOG" | awk '/smtpd.*disconnect from/ {
      c++
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^data=/) { sub("data=", "", $i); m += $i }
        if ($i ~ /^noop=/) { sub("noop=", "", $i); o += $i }
      }
    } END { printf "%d %d %d\n", c, m, o }'
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

: >"$work/rounds.txt"
for round in $(seq "$ROUNDS"); do
  echo
  say "round $round of $ROUNDS"
  r="$work/round$round"
  mkdir -p "$r"
  port="$("${helper[@]}" freeport)"
  base="http://127.0.0.1:$port"
  cat >"$r/config.toml" <<CFG
[store]
path = "$r/lb.db"

[web]
listen = "127.0.0.1:$port"
base_url = "$base"

[outbound]
host = "$SMTP_HOST"
port = $SMTP_PORT
tls = "plain"
from_address = "forum@lists.test"

[[lists]]
name = "snug"
address = "list@lists.test"
mode = "host"
CFG
  lb=("$bin" --db "$r/lb.db" --config "$r/config.toml")
  "${lb[@]}" check-config >"$r/check.log" 2>&1 || fail_with "$r/check.log" "check-config failed"
  "${lb[@]}" members import "$r/../roster.txt" >"$r/members.log" 2>&1 || fail_with "$r/members.log" "members import failed"
  link="$(admin_link "$r/admin.log" alice@lists.test Alice)"

  start_serve "$r/serve.log"
  session="$("${helper[@]}" signin "$base" "$link")" || fail_with "$r/serve.log" "signing in failed"

  # The timed fan-out, with the readers.
  qwait
  log_from=$(($(wc -l <"$POSTFIX_LOG") + 1))
  lb_cpu0="$("${helper[@]}" cpums "$serve_pid")"
  pf_cpu0="$("${helper[@]}" cpums "$master_pid")"
  load_lb="$(load)"
  say "Alice posts; listbridge sends $N copies (readers: $READERS + 1 wrk connections, ${PAUSE_MS} ms pause)"
  "${helper[@]}" fanout "$base" "$session" "$bin" "$r/lb.db" "$r/config.toml" "$N" "$r/fanout.json" \
    -- wrk -t1 -c"$READERS" -d600s --timeout 10s --latency -s "$work/readers.lua" "$base/t/{thread}" \
    -- wrk -t1 -c1 -d600s --timeout 10s --latency -s "$work/readers.lua" -H "Cookie: lb_session=$session" "$base/t/{thread}" \
    2>"$r/fanout.err" || fail_with "$r/fanout.err" "the fan-out failed (serve log: $r/serve.log)"
  lb_cpu1="$("${helper[@]}" cpums "$serve_pid")"
  pf_cpu1="$("${helper[@]}" cpums "$master_pid")"
  read -r lb_secs post_ms thread readers_secs queued_bytes <<<"$(python3 -c 'import json,sys; j = json.load(open(sys.argv[1]))
print("%.3f %.0f %s %.2f %s" % (j["seconds"], j["post_ms"], j["thread"], j["readers_seconds"], j["queued_bytes"]))' "$r/fanout.json")"
  read -r th_rps th_p50 th_p95 th_p99 th_max th_err <<<"$(wrk_result "$r/fanout.json.wrk0")"
  read -r me_rps me_p50 me_p95 me_p99 me_max me_err <<<"$(wrk_result "$r/fanout.json.wrk1")"
  lb_rate="$(rate "$N" "$lb_secs")"
  say "  listbridge: $N copies in $lb_secs s = $lb_rate msgs/s (the POST answered in $post_ms ms)"
  say "  thread page (signed out, cached): $th_rps req/s  p50 $th_p50  p99 $th_p99  max $th_max ms  errors $th_err"
  say "  thread page (Alice, uncached):    $me_rps req/s  p50 $me_p50  p99 $me_p99  max $me_max ms  errors $me_err"

  # The copy as mailed, for the baseline; then stop serve so that its pooled SMTP connections
  # close and Postfix logs what each carried.
  "${helper[@]}" sample "$base" "$thread" "$work/sample.eml" "$session" || fail_with "$r/serve.log" "could not fetch the post's mbox"
  stop_pid "$serve_pid"
  serve_pid=""
  qwait
  sleep 0.5 # the last disconnect lines
  read -r conns mails noops <<<"$(smtp_use "$log_from")"

  # The baseline: one smtplib connection, the same copies.
  log_from=$(($(wc -l <"$POSTFIX_LOG") + 1))
  pf_cpu2="$("${helper[@]}" cpums "$master_pid")"
  load_base="$(load)"
  say "baseline: smtplib, one connection, $N copies"
  read -r base_secs copy_bytes <<<"$("${helper[@]}" baseline "$SMTP_HOST" "$SMTP_PORT" "$N" "$work/sample.eml")" ||
    fail_with "$POSTFIX_LOG" "the baseline failed"
  qwait # Postfix's share includes handling what it accepted
  pf_cpu4="$("${helper[@]}" cpums "$master_pid")"
  base_rate="$(rate "$N" "$base_secs")"
  say "  baseline: $N copies ($copy_bytes bytes each; listbridge queued $queued_bytes + its Reply-To line) in $base_secs s = $base_rate msgs/s"
  ratio="$(awk -v a="$lb_rate" -v b="$base_rate" 'BEGIN { printf "%.2f", a / b }')"
  say "  ratio listbridge/baseline: $ratio"

  # One line per round, for the summary:
  #  1 lb_rate 2 lb_secs 3 base_rate 4 base_secs 5 ratio 6 th_rps 7 th_p50 8 th_p99 9 th_max
  #  10 th_err 11 me_rps 12 me_p50 13 me_p99 14 me_err 15 post_ms 16 lb_cpu_ms 17 pf_cpu_lb_ms
  #  18 pf_cpu_base_ms 19 conns 20 mails 21 noops 22 copy_bytes 23 readers_secs
  #  24-26 load (lb) 27-29 load (baseline)
  echo "$lb_rate $lb_secs $base_rate $base_secs $ratio $th_rps $th_p50 $th_p99 $th_max $th_err" \
    "$me_rps $me_p50 $me_p99 $me_err $post_ms $((lb_cpu1 - lb_cpu0)) $((pf_cpu1 - pf_cpu0))" \
    "$((pf_cpu4 - pf_cpu2)) $conns $mails $noops $copy_bytes $readers_secs $load_lb $load_base" >>"$work/rounds.txt"
done

# --- summary -------------------------------------------------------------------------------
elapsed=$(($(date +%s) - started))
echo
echo "== summary ($N members, $ROUNDS rounds, the better of each figure kept; $(nproc) cores;" \
  "load average $load_start at the start, $(load) now; ${elapsed} s)"
summary="$(awk -v cores="$(nproc)" -v n="$N" -v readers="$READERS" -v pause="$PAUSE_MS" '
  { r[NR] = $0 }
  END {
    for (i = 1; i <= NR; i++) {
      split(r[i], f, " ")
      printf "round %d: listbridge %7.1f msgs/s (%.2f s), baseline %7.1f msgs/s (%.2f s), ratio %.2f; thread p99 %.2f ms (uncached %.2f ms); load %s / %s\n",
        i, f[1], f[2], f[3], f[4], f[5], f[8], f[13], f[24], f[27]
      if (i == 1 || f[1] > lb[1]) split(r[i], lb, " ")
      if (i == 1 || f[3] > bs[3]) split(r[i], bs, " ")
      if (i == 1 || f[8] < th[8]) split(r[i], th, " ")
    }
    ratio = lb[1] / bs[3]
    printf "baseline (smtplib, 1 connection)  %7.1f msgs/s   (%d copies of %d bytes in %.2f s; Postfix CPU %.1f s)\n",
      bs[3], n, bs[22], bs[4], bs[18] / 1000
    printf "listbridge host-mode fan-out      %7.1f msgs/s   (%.2f s from the POST to the last copy sent; POST answered in %d ms)\n",
      lb[1], lb[2], lb[15]
    printf "  CPU: listbridge serve %.1f s, Postfix %.1f s (of %.1f CPU-seconds on %d cores; serve also answered the readers)\n",
      lb[16] / 1000, lb[17] / 1000, cores * lb[2], cores
    printf "  SMTP: %d connections for %d mails (%.1f per connection), %d NOOPs\n",
      lb[19], lb[20], (lb[19] > 0 ? lb[20] / lb[19] : 0), lb[21]
    printf "  ratio listbridge/baseline: %.2f\n", ratio
    printf "during the fan-out (%.1f s of readers, wrk paced at %d ms between requests per connection):\n", th[23], pause
    printf "  thread page, signed out (%d conns; served from the page cache): %.0f req/s  p50 %.2f ms  p99 %.2f ms  max %.2f ms  errors %d\n",
      readers, th[6], th[7], th[8], th[9], th[10]
    printf "  thread page, signed in as the author (1 conn; uncached, reads the %d delivery rows): %.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d\n",
      n, th[11], th[12], th[13], th[14]
    ok = "MET"; no = "MISSED"; missed = 0
    printf "targets:\n"
    t = ratio >= 0.8; missed += !t;  printf "  fan-out >= 0.8 x baseline          %-6s (%.2f)\n", t ? ok : no, ratio
    t = th[8] < 100; missed += !t;   printf "  thread page p99 < 100 ms           %-6s (%.2f ms; uncached view %.2f ms)\n", t ? ok : no, th[8], th[13]
    t = th[10] + th[14] == 0; missed += !t; printf "  no web errors during the fan-out   %-6s\n", t ? ok : no
    printf "MISSED_COUNT %d\n", missed
  }' "$work/rounds.txt")"
echo "$summary" | grep -v '^MISSED_COUNT'
missed=$(echo "$summary" | awk '/^MISSED_COUNT/ { print $2 }')
if [ "${STRICT:-0}" = 1 ] && [ "$missed" -gt 0 ]; then
  exit 1
fi
