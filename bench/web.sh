#!/usr/bin/env bash
# Web benchmark (issue 5, "Speed"): the forum's thread page and search under wrk, against
# notmuch search and nginx serving the same page, on the linux-man archive.
#
#   bench/web.sh
#
# In one go: builds the release binary; imports linux-man.mbox.gz (from
# $LISTBRIDGE_CORPORA, default ../shared/corpora) into a fresh database; picks the thread
# nearest 50 messages; serves the archive (a config with only [web] listen, on a free loopback
# port); warms up; then wrk on loopback (32 connections, 2 threads, DURATION s each, every
# measurement run twice and the better kept, as other work may share the CPU):
#   1. the thread page /t/ID: requests/s, p50/p99;
#   2. search over the queries of bench/web_queries.tsv (words, phrases, exclusions, from:,
#      list:, after:/before:, subject:) rotated by a wrk script: requests/s and p50/p99 at 32
#      connections; the server time per query as wrk's p95 at 1 connection;
#   3. notmuch search --limit=20 of the same queries (notmuch syntax) on a notmuch database of
#      the same messages, timed as whole processes (p50/p95), and `listbridge search` likewise;
#   4. nginx serving the rendered thread page as a static file, wrk'd as in (1): the ratio;
#   5. the same thread page for a signed-in member (an admin signed in by a one-time link),
#      never cached;
#   6. the server's memory (RSS) before and after a crawl of every thread page and 1,000
#      distinct one-word searches, and after a minute idle.
# Then a per-query breakdown (/search with snippets against /api/search without; DIAG=0 skips
# it) and a summary with the targets. Installs wrk, nginx and notmuch when missing.
#
#   ARCHIVE=large PARTS=search bench/web.sh
#
# ARCHIVE=large measures an archive of 84,000 messages instead, made in the work folder by
# bench/make-large-archive.py from the shared archives (linux-man, linux-audit and
# r-sig-finance, repeated as distinct copies). PARTS=search measures search alone: (2), the
# per-query breakdown with each query's uncached time (its first /search, and the p95 of
# /api/search, which is never cached), and the search targets.
#
# Environment: DURATION (seconds per wrk run, default 10), KEEP=1 keeps the work folder,
# STRICT=1 exits 1 when a target is missed, LISTBRIDGE_CORPORA, ARCHIVE (linux-man or large),
# PARTS (all or search).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DURATION="${DURATION:-10}"
CONNS=32
THREADS=2
helper=(python3 "$root/bench/web_helper.py")
queries="$root/bench/web_queries.tsv"
report_lua="$root/bench/wrk_report.lua"
started=$(date +%s)

corpora="${LISTBRIDGE_CORPORA:-$root/../shared/corpora}"
archive="$corpora/archives/linux-man.mbox.gz"
[ -f "$archive" ] || die "the test corpora are missing: no $archive (set LISTBRIDGE_CORPORA to the folder holding archives/linux-man.mbox.gz)"
archive="$(realpath "$archive")"
case "${ARCHIVE:=linux-man}" in linux-man | large) ;; *) die "ARCHIVE is linux-man or large, not $ARCHIVE" ;; esac
case "${PARTS:=all}" in all | search) ;; *) die "PARTS is all or search, not $PARTS" ;; esac
full=0
[ "$PARTS" = all ] && full=1

if [ "$full" = 1 ]; then
  need_tools wrk nginx=nginx-light notmuch curl python3
else
  need_tools wrk curl python3
fi

# --- work folder and cleanup ---------------------------------------------------------------
serve_pid=""
nginx_pid=""
nm_job=""
bench_stop() {
  stop_pid "$serve_pid" 50
  if [ -n "$nm_job" ] && kill -0 "$nm_job" 2>/dev/null; then
    pkill -TERM -P "$nm_job" 2>/dev/null || true
    stop_pid "$nm_job" 50
  fi
  stop_nginx
}
# stop_nginx: its master and workers.
stop_nginx() {
  [ -n "$nginx_pid" ] || return 0
  if [ -f "$work/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; fi
  stop_pid "$nginx_pid" 50
  nginx_pid=""
}
keep_on_failure=0
make_work "${TMPDIR:-/tmp}/listbridge-web.XXXXXX"

# wrk_best NAME MODE WRK-ARGS...: runs wrk twice; prints each run; sets BEST to
# "rps p50 p95 p99 max socket_errors non_2xx cpu_ms_per_request load" (ms) of the better run:
# the one with more requests/s (MODE rps) or the lower p95 (MODE p95). The server's CPU time
# per request (of CPU_PID and its children) does not depend on how loaded the machine is.
wrk_best() {
  local name="$1" mode="$2"
  shift 2
  local runs="$work/wrk-$name.runs"
  : >"$runs"
  for i in 1 2; do
    local out="$work/wrk-$name-$i.txt" before cpu0 cpu1
    before="$(load)"
    cpu0="$("${helper[@]}" cpums "$CPU_PID")"
    timeout $((DURATION + 60)) wrk "$@" >"$out" 2>&1 || fail_with "$out" "wrk ($name) failed"
    local line
    cpu1="$("${helper[@]}" cpums "$CPU_PID")"
    line="$(grep '^WRKRESULT' "$out")" || fail_with "$out" "wrk ($name) printed no result"
    echo "$line" | awk -v l="$before" -v cpu=$((cpu1 - cpu0)) '{ printf "%.1f %.2f %.2f %.2f %.2f %d %d %.3f %s\n",
      $2 / ($3 / 1e6), $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8, $9, cpu / ($2 > 0 ? $2 : 1), l }' >>"$runs"
    awk -v n="$name" -v i="$i" 'NR == '"$i"' { printf "  %-9s run %d: %8.1f req/s  p50 %6.2f  p95 %6.2f  p99 %6.2f  max %7.2f ms  err %d/%d  CPU %.3f ms/req  (load %s %s %s)\n",
      n, i, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$runs"
  done
  if [ "$mode" = rps ]; then
    BEST="$(sort -k1,1gr "$runs" | head -1)"
  else
    BEST="$(sort -k3,3g "$runs" | head -1)"
  fi
}

show_start "listbridge web benchmark ($ARCHIVE, parts: $PARTS)"

# --- the large archive (in the background, during the build) ------------------------------
large_job=""
if [ "$ARCHIVE" = large ]; then
  say "making the large archive (bench/make-large-archive.py, in the background)"
  python3 "$root/bench/make-large-archive.py" "$work/large.mbox.gz" --corpora "$corpora" \
    >"$work/large.log" 2>&1 &
  large_job=$!
fi

# --- notmuch database of the same messages (in the background, during the build and import) --
if [ "$full" = 1 ]; then
  notmuch_config "$work/notmuch-config" "$work/maildir"
  export NOTMUCH_CONFIG="$work/notmuch-config"
  say "writing the messages as a Maildir and indexing them with notmuch new (in the background)"
  (
    if [ -n "$large_job" ]; then
      wait "$large_job" 2>/dev/null || true
      archive="$work/large.mbox.gz"
    fi
    "${helper[@]}" maildir "$archive" "$work/maildir" >"$work/maildir.count" &&
      exec timeout 1800 notmuch new
  ) >"$work/notmuch-new.log" 2>&1 &
  nm_job=$!
fi

# --- build and import ----------------------------------------------------------------------
say "building the release binary"
build_release 1200
if [ -n "$large_job" ]; then
  wait "$large_job" || fail_with "$work/large.log" "making the large archive failed"
  archive="$work/large.mbox.gz"
  say "large archive: $(cat "$work/large.log")"
fi
db="$work/lb.db"
say "importing $(basename "$archive")"
t0=$EPOCHREALTIME
timeout 600 "$bin" --db "$db" import "$archive" >"$work/import.out" 2>"$work/import.err" ||
  fail_with "$work/import.err" "the import failed"
import_secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
grep -q "imported" "$work/import.out" || fail_with "$work/import.out" "the import printed no summary"
say "imported in $import_secs s:"
sed 's/^/  /' "$work/import.out"
read -r thread thread_msgs <<<"$("${helper[@]}" thread "$db")"
[ -n "${thread_msgs:-}" ] || die "could not pick a thread from $db"
say "thread $thread has $thread_msgs messages"

if [ "$full" = 1 ]; then
  if ! wait "$nm_job"; then
    nm_job=""
    fail_with "$work/notmuch-new.log" "writing the Maildir or notmuch new failed"
  fi
  nm_job=""
  say "notmuch new done: $(notmuch count '*') of $(cat "$work/maildir.count") messages indexed"
fi

# --- listbridge serve ----------------------------------------------------------------------
port="$("${helper[@]}" freeport)"
printf '[web]\nlisten = "127.0.0.1:%s"\n' "$port" >"$work/config.toml"
lb=("$bin" --db "$db" --config "$work/config.toml")
base="http://127.0.0.1:$port"
start_serve "$work/serve.log"
say "listbridge serve is up on $base (pid $serve_pid)"

# The thread page: first request (renders, fills the page cache), then cached ones.
timing() { curl -s -o "${2:-/dev/null}" -w '%{http_code} %{time_total}\n' --max-time 30 "$1"; }
if [ "$full" = 1 ]; then
  read -r code cold <<<"$(timing "$base/t/$thread")"
  [ "$code" = 200 ] || fail_with "$work/serve.log" "/t/$thread answered $code"
  warm=$(for _ in 1 2 3 4 5; do timing "$base/t/$thread"; done | sort -k2,2g | sed -n 3p | cut -d' ' -f2)
  read -r _ nested_cold <<<"$(timing "$base/t/$thread?view=nested")"
  read -r _ health <<<"$(timing "$base/healthz")"
  mkdir -p "$work/nginx/www"
  timing "$base/t/$thread" "$work/nginx/www/thread.html" >/dev/null
  page_bytes=$(stat -c %s "$work/nginx/www/thread.html")
  awk -v c="$cold" -v w="$warm" -v n="$nested_cold" -v h="$health" -v b="$page_bytes" 'BEGIN {
    printf "  thread page: %d bytes; first request %.1f ms (render), then %.2f ms (page cache); nested view first %.1f ms; /healthz %.2f ms\n",
      b, c * 1000, w * 1000, n * 1000, h * 1000 }'
fi

# Search: every query must answer 200 (a refused query would measure an error page).
"${helper[@]}" lua "$queries" "$work/search-gen.lua"
cat "$work/search-gen.lua" "$report_lua" >"$work/search.lua"
nq=$(grep -c . <(grep -v '^#' "$queries"))
"${helper[@]}" check "$port" "$queries" >"$work/check.txt" 2>&1 ||
  fail_with "$work/check.txt" "a search query did not answer 200 (query, status, hits above)"
say "$nq search queries answer 200"

say "warming up (3 s each)"
[ "$full" = 0 ] || timeout 30 wrk -t "$THREADS" -c "$CONNS" -d 3s "$base/t/$thread" >/dev/null 2>&1 || true
timeout 30 wrk -t "$THREADS" -c "$CONNS" -d 3s -s "$work/search.lua" "$base" >/dev/null 2>&1 || true

echo
echo "== measurements (each run twice, the better kept; $DURATION s, wrk -t$THREADS -c$CONNS unless said)"
CPU_PID="$serve_pid"
if [ "$full" = 1 ]; then
  wrk_best thread rps -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$report_lua" "$base/t/$thread"
  read -r th_rps th_p50 _ th_p99 _ th_err th_non2xx th_cpu th_load <<<"$BEST"
  # The same page for a signed-in member: never cached, drawn for them (their own posts' state).
  link="$(admin_link "$work/admin.log" bench.admin@example.org "Bench Admin")"
  session="$("${helper[@]}" signin "$base" "$link")" || fail_with "$work/serve.log" "signing in failed"
  wrk_best thread-member rps -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$report_lua" \
    -H "Cookie: lb_session=$session" "$base/t/$thread"
  read -r tm_rps tm_p50 _ tm_p99 _ tm_err tm_non2xx tm_cpu tm_load <<<"$BEST"
else
  # The parts not run: their figures are not printed.
  th_rps=0 th_p50=0 th_p99=0 th_err=0 th_non2xx=0 th_cpu=0 th_load=- page_bytes=0
  tm_rps=0 tm_p50=0 tm_p99=0 tm_err=0 tm_non2xx=0 tm_load=-
  nm_p50=0 nm_p95=0 cli_p50=0 cli_p95=0 ng_rps=1 ng_p50=0 ng_p99=0 ng_cpu=0 ng_load=-
  mem_before=0 mem_after=0 mem_idle=0 crawl_errors=0
fi
wrk_best search rps -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$work/search.lua" "$base"
read -r se_rps se_p50 _ se_p99 _ se_err se_non2xx se_cpu se_load <<<"$BEST"
wrk_best search-c1 p95 -t 1 -c 1 -d "${DURATION}s" --latency -s "$work/search.lua" "$base"
read -r s1_rps s1_p50 s1_p95 _ _ s1_err s1_non2xx s1_cpu s1_load <<<"$BEST"

if [ "$full" = 1 ]; then
  # Whole processes: notmuch search and listbridge search, 5 times per query, twice.
  proc_best() { # NAME COL CMD...
    local name="$1" col="$2"
    shift 2
    local a b
    a="$(timeout 600 "${helper[@]}" proctimes "$work/$name-1.tsv" "$queries" 5 "$col" "$@")" || die "$name timing failed"
    b="$(timeout 600 "${helper[@]}" proctimes "$work/$name-2.tsv" "$queries" 5 "$col" "$@")" || die "$name timing failed"
    echo "  $name (whole process, p50 p95 ms): run 1: $a   run 2: $b   (load $(load))" >&2
    if awk -v a="${a#* }" -v b="${b#* }" 'BEGIN { exit !(a <= b) }'; then
      cp "$work/$name-1.tsv" "$work/$name.tsv"
      echo "$a"
    else
      cp "$work/$name-2.tsv" "$work/$name.tsv"
      echo "$b"
    fi
  }
  read -r nm_p50 nm_p95 <<<"$(proc_best notmuch 1 notmuch search --limit=20)"
  read -r cli_p50 cli_p95 <<<"$(proc_best listbridge-cli 0 "$bin" --db "$db" search --json --limit 20 --)"

  # --- nginx serving the same page -----------------------------------------------------------
  nport="$("${helper[@]}" freeport)"
  nd="$work/nginx"
  cat >"$nd/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $nd/nginx.pid;
error_log $nd/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $nd/client_body;
  proxy_temp_path $nd/proxy;
  fastcgi_temp_path $nd/fastcgi;
  uwsgi_temp_path $nd/uwsgi;
  scgi_temp_path $nd/scgi;
  types { text/html html; }
  server {
    listen 127.0.0.1:$nport;
    root $nd/www;
    location / { }
  }
}
CONF
  chmod -R a+rX "$nd"
  nginx -c "$nd/nginx.conf" -p "$nd" >"$nd/stdout.log" 2>&1 &
  nginx_pid=$!
  wait_http "http://127.0.0.1:$nport/thread.html" "$nginx_pid" "$nd/error.log" 15
  ncode=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nport/thread.html")
  [ "$ncode" = 200 ] || fail_with "$nd/error.log" "nginx answered $ncode for the page"
  timeout 30 wrk -t "$THREADS" -c "$CONNS" -d 2s "http://127.0.0.1:$nport/thread.html" >/dev/null 2>&1 || true
  CPU_PID="$nginx_pid"
  wrk_best nginx rps -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$report_lua" "http://127.0.0.1:$nport/thread.html"
  read -r ng_rps ng_p50 _ ng_p99 _ _ _ ng_cpu ng_load <<<"$BEST"
  stop_nginx
fi

# --- per-query breakdown -------------------------------------------------------------------
if [ "${DIAG:-1}" != 0 ]; then
  echo
  echo "== per query: ms on one keep-alive connection: /search median (cached; it renders snippets), its first request (uncached), /api/search (never cached, no snippets) median and p95 of 20 and the server's CPU per request (independent of the load); hits; notmuch process"
  "${helper[@]}" probe "$port" "$queries" 20 "$serve_pid" >"$work/probe.tsv"
  # The same rotation on /api/search (the query alone, no snippets), for the CPU split.
  sed 's#"/search?q=#"/api/search?q=#' "$work/search.lua" >"$work/api.lua"
  cpu_split=""
  for c in 1 32; do
    a="$("${helper[@]}" cpums "$serve_pid")"
    timeout 60 wrk -t "$((c < THREADS ? c : THREADS))" -c "$c" -d 5s -s "$work/api.lua" "$base" >"$work/wrk-api-c$c.txt" 2>&1 ||
      fail_with "$work/wrk-api-c$c.txt" "wrk on /api/search failed"
    b="$("${helper[@]}" cpums "$serve_pid")"
    cpu_split+="$(awk -v cpu=$((b - a)) '/^WRKRESULT/ { printf "%.3f ", cpu / $2 }' "$work/wrk-api-c$c.txt")"
  done
  python3 - "$work/probe.tsv" "$work/check.txt" "$work/notmuch.tsv" "$work/uncached.txt" <<'PY'
import os, subprocess, sys
probe = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
check = {r[0]: r for r in (l.rstrip("\n").split("\t") for l in open(sys.argv[2]))}
nm = [l.rstrip("\n").split("\t") for l in open(sys.argv[3])] if os.path.exists(sys.argv[3]) else []
print(f"  {'query':34} {'/search':>8} {'first':>7} {'/api':>7} {'api p95':>7} {'api CPU':>7} {'snippets':>8} {'hits':>6}"
      + (f" {'notmuch':>8} {'nm hits':>7}" if nm else ""))
for i, (q, html, api, api95, cpu) in enumerate(probe):
    _, _, hits, first = check.get(q, ("", "", "?", "nan"))
    line = f"  {q:34} {float(html):8.2f} {float(first):7.2f} {float(api):7.2f} {float(api95):7.2f} {float(cpu):7.2f} {float(html)-float(api):8.2f} {hits:>6}"
    if nm:
        nq, n = nm[i]
        c = subprocess.run(["notmuch", "count", nq], capture_output=True, text=True).stdout.strip()
        line += f" {float(n):8.2f} {c:>7}"
    print(line)
# The slowest query uncached: its /api/search p95 (the query itself, never cached).
worst = max(probe, key=lambda r: float(r[3]))
costliest = max(probe, key=lambda r: float(r[4]))
with open(sys.argv[4], "w") as f:
    f.write(f"{worst[3]} {costliest[4]} {worst[0]}\t{costliest[0]}\n")
PY
fi

if [ -n "${cpu_split:-}" ]; then
  read -r api1_cpu api32_cpu <<<"$cpu_split"
  awk -v a1="$api1_cpu" -v a32="$api32_cpu" -v s1="$s1_cpu" -v s32="$se_cpu" 'BEGIN {
    printf "  server CPU per search: the query alone (/api/search) %.2f ms at 1 connection, %.2f ms at 32;\n", a1, a32
    printf "  with snippets (/search) %.2f ms at 1, %.2f ms at 32: snippets %.2f ms (%.0f%%), concurrency +%.0f%%\n", s1, s32, s1 - a1, 100 * (s1 - a1) / s1, 100 * (s32 - s1) / s1 }'
fi

# --- memory: a crawl of every thread and 1,000 distinct searches, then a minute idle --------
if [ "$full" = 1 ]; then
  mem_before=$(vm_kib "$serve_pid" VmRSS)
  say "crawling every thread and 1,000 searches (RSS before: $((mem_before / 1024)) MB)"
  read -r crawl_pages crawl_searches crawl_errors <<<"$("${helper[@]}" crawl "$port" "$db" 1000)"
  mem_after=$(vm_kib "$serve_pid" VmRSS)
  sleep 60
  mem_idle=$(vm_kib "$serve_pid" VmRSS)
  mem_peak=$(vm_kib "$serve_pid" VmHWM)
  echo "  memory: $((mem_before / 1024)) MB before; $((mem_after / 1024)) MB after $crawl_pages thread pages and $crawl_searches searches ($crawl_errors errors); $((mem_idle / 1024)) MB after 60 s idle; peak $((mem_peak / 1024)) MB"
fi

# --- summary -------------------------------------------------------------------------------
elapsed=$(($(date +%s) - started))
echo
echo "== summary ($(basename "$archive"), thread $thread of $thread_msgs messages, $nq queries; load average now $(load); ${elapsed} s)"
IFS=$'\t' read -r unc_worst unc_costliest <<<"$(cat "$work/uncached.txt" 2>/dev/null || true)"
read -r unc_ms unc_cpu unc_query <<<"${unc_worst:-}"
summary="$(awk -v full="$full" -v unc_ms="${unc_ms:-}" -v unc_query="${unc_query:-}" -v unc_cpu="${unc_cpu:-}" -v unc_cpu_query="${unc_costliest:-}" \
  -v th_rps="$th_rps" -v th_p50="$th_p50" -v th_p99="$th_p99" -v th_load="$th_load" -v th_bad="$((th_err + th_non2xx))" \
  -v se_rps="$se_rps" -v se_p50="$se_p50" -v se_p99="$se_p99" -v se_load="$se_load" -v se_bad="$((se_err + se_non2xx + s1_err + s1_non2xx))" \
  -v s1_p50="$s1_p50" -v s1_p95="$s1_p95" -v s1_rps="$s1_rps" -v s1_load="$s1_load" \
  -v nm_p50="$nm_p50" -v nm_p95="$nm_p95" -v cli_p50="$cli_p50" -v cli_p95="$cli_p95" \
  -v ng_rps="$ng_rps" -v ng_p50="$ng_p50" -v ng_p99="$ng_p99" -v ng_load="$ng_load" \
  -v tm_rps="$tm_rps" -v tm_p50="$tm_p50" -v tm_p99="$tm_p99" -v tm_load="$tm_load" -v tm_bad="$((tm_err + tm_non2xx))" \
  -v m0="$mem_before" -v m1="$mem_after" -v m2="$mem_idle" -v crawl_bad="$crawl_errors" \
  -v th_cpu="$th_cpu" -v se_cpu="$se_cpu" -v s1_cpu="$s1_cpu" -v ng_cpu="$ng_cpu" -v cores="$(nproc)" \
  -v bytes="$page_bytes" 'BEGIN {
  ok = "MET"; no = "MISSED"; missed = 0
  if (full) {
  printf "thread page   %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d bytes; errors %d; load %s)\n", th_rps, th_p50, th_p99, bytes, th_bad, th_load
  printf "nginx static  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (load %s)\n", ng_rps, ng_p50, ng_p99, ng_load
  printf "  listbridge/nginx: %.2f of the static ceiling\n", th_rps / ng_rps
  printf "thread page, signed in %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (errors %d; load %s): %.2f of nginx\n", tm_rps, tm_p50, tm_p99, tm_bad, tm_load, tm_rps / ng_rps
  printf "server memory: %.0f MB before the crawl, %.0f MB after it, %.0f MB after 60 s idle\n", m0 / 1024, m1 / 1024, m2 / 1024
  }
  printf "search (32c)  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (errors %d; load %s)\n", se_rps, se_p50, se_p99, se_bad, se_load
  printf "search (1c)   server time p50 %.2f ms, p95 %.2f ms (%.0f req/s; load %s)\n", s1_p50, s1_p95, s1_rps, s1_load
  if (unc_ms != "") printf "search uncached (/api/search p95 per query): slowest %.2f ms (%s); server CPU per uncached query at most %.2f ms (%s)\n", unc_ms, unc_query, unc_cpu, unc_cpu_query
  if (full) {
  printf "notmuch search --limit=20, whole process: p50 %.2f ms, p95 %.2f ms\n", nm_p50, nm_p95
  printf "listbridge search --json --limit 20, whole process: p50 %.2f ms, p95 %.2f ms\n", cli_p50, cli_p95
  printf "server CPU per request (independent of the load; %d cores give %d ms of CPU per ms):\n", cores, cores
  printf "  thread page %.3f ms, nginx %.3f ms, search %.3f ms (32c) / %.3f ms (1c)\n", th_cpu, ng_cpu, se_cpu, s1_cpu
  printf "  so on an idle machine at most ~%.0f thread pages/s and ~%.0f searches/s\n", cores * 1000 / th_cpu, cores * 1000 / se_cpu
  }
  printf "targets:\n"
  if (full) {
  t = th_rps >= 0.5 * ng_rps; missed += !t; printf "  thread page >= 0.5 of nginx         %-6s (%.2f)\n", t ? ok : no, th_rps / ng_rps
  t = th_p99 < 20; missed += !t;    printf "  thread page p99 < 20 ms             %-6s (%.2f ms)\n", t ? ok : no, th_p99
  t = tm_rps >= 0.2 * ng_rps; missed += !t; printf "  signed in >= 0.2 of nginx           %-6s (%.2f)\n", t ? ok : no, tm_rps / ng_rps
  }
  t = s1_p95 < 5; missed += !t;     printf "  search p95 server time < 5 ms       %-6s (%.2f ms)\n", t ? ok : no, s1_p95
  if (unc_ms != "") { t = unc_ms < 25; missed += !t; printf "  search uncached p95 < 25 ms, each   %-6s (%.2f ms, %s)\n", t ? ok : no, unc_ms, unc_query }
  if (full) {
  t = m1 < 100 * 1024 && crawl_bad == 0; missed += !t; printf "  memory after the crawl < 100 MB     %-6s (%.0f MB)\n", t ? ok : no, m1 / 1024
  t = m2 <= 1.2 * m0; missed += !t; printf "  idle within 20%% of before the crawl %-6s (%.0f of %.0f MB)\n", t ? ok : no, m2 / 1024, m0 / 1024
  }
  t = se_rps >= 1000; missed += !t; printf "  search >= 1000 req/s                %-6s (%.0f)\n", t ? ok : no, se_rps
  if (full) {
  t = s1_p95 <= nm_p95; missed += !t; printf "  search p95 no slower than notmuch   %-6s (%.2f ms vs %.2f ms)\n", t ? ok : no, s1_p95, nm_p95
  }
  t = th_bad + se_bad + tm_bad == 0; missed += !t; printf "  no errors under load                %-6s\n", t ? ok : no
  printf "MISSED_COUNT %d\n", missed
}')"
echo "$summary" | grep -v '^MISSED_COUNT'
missed=$(echo "$summary" | awk '/^MISSED_COUNT/ { print $2 }')
if [ "${STRICT:-0}" = 1 ] && [ "$missed" -gt 0 ]; then
  exit 1
fi
