#!/usr/bin/env bash
# Mixed-load acceptance test: "10 minutes of mixed load (wrk on reads, concurrent web posts,
# 20 mails per second through Postfix) with no error, no lost message and memory flat."
#
#   bench/load.sh              (as root: the rig's servers start as root)
#
# In one go: builds the release binary; starts a private mail rig (scripts/mailrig); a
# mirror-mode list "snug" whose address is the rig's list mailbox, read back over IMAP
# (implicit TLS, IDLE), [outbound] to the rig's Postfix; imports fixtures/sample/snug-2024.mbox
# so reads have content; signs POSTERS admins in; starts `listbridge serve`; then for
# DURATION seconds at once:
#   1. wrk -t1 -c8, paced (PAUSE_MS between requests per connection), rotating over /, the
#      busiest thread pages, searches, /feed.atom, /api/threads, /events, /l/snug;
#   2. POSTERS members replying on the web to those threads, each every POST_EVERY seconds
#      (the web allows a member 10 posts at once, then one every 20 s: faster would be 429s);
#   3. MAIL_RATE mails a second to the list address through Postfix (smtplib, one connection),
#      about 60% replies to earlier ones (In-Reply-To, References);
#   4. serve's RSS and one request to each read page every 10 s.
# Then waits (SETTLE s at most) for Postfix's queue, the outbox and the IMAP source to catch up,
# and checks: every mail sent and every web post archived exactly once, replies threaded with
# their parents, every web post delivered (its list copy came back), no outbox failure, no
# wrk or probe error, memory flat (the max RSS of the last 5 minutes, or of the second half of
# a shorter run, within 10% of the max between the first minute, when the bounded caches fill,
# and then).
#
# Environment: DURATION (default 600), MAIL_RATE (20), POSTERS (4), POST_EVERY (21),
# PAUSE_MS (10), SETTLE (120), KEEP=1 keeps the work folder, STRICT=1 exits 1 when a
# criterion fails. Installs wrk when missing. CARGO_TARGET_DIR is honoured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
DURATION="${DURATION:-600}"
MAIL_RATE="${MAIL_RATE:-20}"
POSTERS="${POSTERS:-4}"
POST_EVERY="${POST_EVERY:-21}"
PAUSE_MS="${PAUSE_MS:-10}"
SETTLE="${SETTLE:-120}"
SAMPLE_EVERY=10
helper=(python3 "$root/bench/load_helper.py")
started=$(date +%s)

need_root
need_tools wrk curl python3

serve_pid=""
jobs_started=()
bench_stop() {
  for pid in "${jobs_started[@]}"; do stop_pid "$pid"; done
  stop_pid "$serve_pid"
}
make_work /tmp/lbload.XXXXXX

show_start "listbridge mixed-load test"
load_start="$(load)"

say "building the release binary"
build_release 1800

say "starting a private mail rig in $work/rig"
start_rig
maildir="$MAIL_ROOT/$LIST_USER/Maildir" # made on the first delivery

# --- the forum -----------------------------------------------------------------------------
port="$("${helper[@]}" freeport)"
base="http://127.0.0.1:$port"
db="$work/lb.db"
cat >"$work/config.toml" <<CFG
[store]
path = "$db"

[web]
listen = "127.0.0.1:$port"
base_url = "$base"
site_name = "SNUG forum"

[outbound]
host = "$SMTP_HOST"
port = $SMTP_PORT
tls = "plain"
from_address = "forum@$DOMAIN"
reply_address = "reply+{key}@$DOMAIN"
bounce_address = "bounces+{recipient}@$DOMAIN"

[[lists]]
name = "snug"
address = "$LIST_USER"
subject_tag = "[SNUG]"
mode = "mirror"

[[sources]]
name = "inbox"
list = "snug"
host = "$IMAP_HOST"
port = $IMAPS_PORT
tls = "implicit"
user = "$LIST_USER"
password = "$LIST_PASSWORD"
mailbox = "INBOX"
ca_file = "$CA_FILE"
poll_seconds = 3600

CFG
cat fixtures/sample/interests.toml >>"$work/config.toml"
lb=("$bin" --db "$db" --config "$work/config.toml")
"${lb[@]}" check-config >"$work/check.log" 2>&1 || fail_with "$work/check.log" "check-config failed"
"${lb[@]}" import fixtures/sample/snug-2024.mbox >"$work/import.log" 2>&1 || fail_with "$work/import.log" "the import failed"
mapfile -t threads < <("${helper[@]}" threads "$db" 4)
[ ${#threads[@]} -ge 1 ] || die "no threads after the import"
: >"$work/links.txt"
for i in $(seq "$POSTERS"); do
  # members.test: any mail the forum sends them (notices) is accepted and discarded.
  admin_link "$work/admin$i.log" "poster$i@members.test" "Poster $i" >>"$work/links.txt"
done

start_serve "$work/serve.log"
sessions=()
while read -r link; do
  session="$("${helper[@]}" signin "$base" "$link")" || fail_with "$work/serve.log" "signing in failed"
  sessions+=("$session")
done <"$work/links.txt"

# The reads: every path must answer 2xx now, or wrk would measure an error page.
paths=(/ /feed.atom /api/threads /events /l/snug)
for t in "${threads[@]}"; do paths+=("/t/$t"); done
paths+=("/search?q=inhaler" "/search?q=%22rescue+packs%22" "/search?q=asthma+-spacer"
  "/search?q=locum+rates" "/search?q=subject%3Avaccines")
for p in "${paths[@]}"; do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$base$p")"
  [ "$code" = 200 ] || fail_with "$work/serve.log" "GET $p answered $code before the load"
done
"${helper[@]}" readlua "$work/reads.lua" "$PAUSE_MS" "${paths[@]}"

# --- the load ------------------------------------------------------------------------------
echo
say "for $DURATION s: wrk -t1 -c8 on ${#paths[@]} read paths (${PAUSE_MS} ms pause), $POSTERS web posters" \
  "(one post each every $POST_EVERY s, threads ${threads[*]}), $MAIL_RATE mails/s through Postfix"
run_id="$(printf '%x' "$(date +%s)" | tr 0-9 g-p)" # letters: see load_helper.py's letters()
rss0="$(vm_kib "$serve_pid" VmRSS)"
"${helper[@]}" sampler "$serve_pid" "$DURATION" "$SAMPLE_EVERY" "$base" "$work/rss.tsv" "${paths[@]}" \
  2>"$work/sampler.err" &
jobs_started+=($!)
wrk -t1 -c8 -d"${DURATION}s" --timeout 10s --latency -s "$work/reads.lua" "$base" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
jobs_started+=("$wrk_pid")
"${helper[@]}" posters "$base" "$DURATION" "$POST_EVERY" "$work/posts.tsv" \
  "$(
    IFS=,
    echo "${threads[*]}"
  )" "${sessions[@]}" 2>"$work/posters.err" &
posters_pid=$!
jobs_started+=("$posters_pid")
mail_out="$("${helper[@]}" mailer "$SMTP_HOST" "$SMTP_PORT" "$MAIL_RATE" "$DURATION" "$LIST_USER" \
  "$run_id" "$work/sent.tsv" 2>"$work/mailer.err")" || fail_with "$work/mailer.err" "the mailer failed"
read -r mails_sent mails_tried mail_secs mail_behind <<<"$mail_out"
say "mailer done: $mails_sent of $mails_tried mails accepted by Postfix in $mail_secs s (at most $mail_behind s behind schedule)"
wait "$posters_pid" || fail_with "$work/posters.err" "the posters failed"
wait "$wrk_pid" || fail_with "$work/wrk.txt" "wrk failed"
for pid in "${jobs_started[@]}"; do wait "$pid" 2>/dev/null || true; done
jobs_started=()
kill -0 "$serve_pid" 2>/dev/null || fail_with "$work/serve.log" "listbridge serve died during the load"
rss_end="$(vm_kib "$serve_pid" VmRSS)"

say "waiting (at most $SETTLE s) for Postfix, the outbox and the IMAP source to catch up"
settle="$("${helper[@]}" settle "$bin" "$db" "$work/config.toml" "$queue_dir" "$maildir" \
  "$work/sent.tsv" "$work/posts.tsv" "$SETTLE")" || die "settle failed"
say "  $settle"
rss_settled="$(vm_kib "$serve_pid" VmRSS)"
# What the memory is made of: anonymous (heap: caches, SQLite's page caches) against file
# pages, how many database connections serve holds (each may cache up to 32 MB of pages) and
# how large the database has grown.
mem_detail="$(awk '/^(RssAnon|RssFile|VmHWM)/ { printf "%s %.1f MB, ", $1, $2 / 1024 }' "/proc/$serve_pid/status")"
mem_detail+="$(find "/proc/$serve_pid/fd" -lname "$db" 2>/dev/null | wc -l) database connections,"
mem_detail+=" database $(du -cm "$db" "$db-wal" 2>/dev/null | awk 'END { print $1 }') MB"
"${lb[@]}" status --json >"$work/status.json"
"${helper[@]}" check "$db" "$work/sent.tsv" "$work/posts.tsv" "$work/rss.tsv" "$work/status.json" "$work/check.json" ||
  die "the check failed"
sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -E ' (ERROR|WARN) ' >"$work/serve.problems" || true
serve_errors="$(wc -l <"$work/serve.problems")"

# --- summary -------------------------------------------------------------------------------
elapsed=$(($(date +%s) - started))
wrkline="$(grep '^WRKRESULT' "$work/wrk.txt")" || fail_with "$work/wrk.txt" "wrk printed no result"
echo
echo "== summary (DURATION $DURATION s, MAIL_RATE $MAIL_RATE/s, $POSTERS posters every $POST_EVERY s;" \
  "$(nproc) cores, load average $load_start at the start, $(load) now; ${elapsed} s in all)"
set +e
python3 - "$work/check.json" "$wrkline" "$settle" "$DURATION" "$rss0" "$rss_end" "$rss_settled" \
  "$mails_tried" "$mail_secs" "$mail_behind" "$serve_errors" "$work/mailer.err" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
w = [int(x) for x in sys.argv[2].split()[1:]]
settle = json.loads(sys.argv[3])
duration = int(sys.argv[4])
rss0, rss_end, rss_settled = (int(x) for x in sys.argv[5:8])
tried, mail_secs, behind, serve_errors = int(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10]), int(sys.argv[11])
mail_errs = sum(1 for _ in open(sys.argv[12]))
req, dur_us, p50, p90, p99, mx, conn, rd, wr, to, non2xx = w
s, web = r["smtp"], r["web"]
failed = []
def crit(name, ok, detail):
    print(f"  {name:48} {'MET' if ok else 'MISSED':6} ({detail})")
    if not ok:
        failed.append(name)
print(f"mail:  {s['recorded']} accepted by Postfix ({tried} tried, {mail_errs} SMTP errors; "
      f"{s['recorded'] / mail_secs:.1f}/s, at most {behind:.1f} s behind), {s['archived']} archived, "
      f"{s['doubled']} doubled, {s['raw_copies']} extra raw copies; {s['roots']} new topics in "
      f"{s['root_threads']} threads, {s['thread_mismatch']} replies outside their parent's thread")
print(f"web:   {web['attempts']} posts tried, statuses {web['status']}, {web['archived']} archived, "
      f"{web['delivered']} delivered (list copy back; lag max {web['echo_lag_s'][0]} s, mean "
      f"{(web['echo_lag_s'][1] or 0):.1f} s), {web['doubled']} doubled; form+post p50 "
      f"{web['ms_p50_max'][0]} ms, max {web['ms_p50_max'][1]} ms")
print(f"reads: {req} requests in {dur_us / 1e6:.0f} s ({req / (dur_us / 1e6):.0f}/s), p50 {p50 / 1000:.2f} ms, "
      f"p90 {p90 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms, max {mx / 1000:.1f} ms; errors: connect {conn}, "
      f"read {rd}, write {wr}, timeout {to}, non-2xx/3xx {non2xx}; probe errors {len(r['probe_errors'])}")
print(f"after: settled {settle['settled']} in {settle['seconds']} s (Postfix queue {settle['postfix_queue']}, "
      f"outbox waiting {settle['outbox_waiting']}, mailbox {settle['mailbox']} / last UID {settle['last_uid']}); "
      f"outbox {r['outbox']}; archive {r['messages_total']} messages; serve log WARN/ERROR lines {serve_errors}")
if r["inbound_log"]:
    print(f"inbound log (not archived): {r['inbound_log']}")
if r["outbox_errors"]:
    print(f"outbox errors: {r['outbox_errors']}")
series = r["rss"]
print("RSS (MB) every 10 s: " + " ".join(f"{kb / 1024:.0f}" for _, kb in series))
first = [kb for t, kb in series if t <= 60]
tail_from = max(duration - 300, duration / 2)
# The bounded caches (pages, searches, rendered bodies, SQLite's page caches) fill during the
# first minute(s): "flat" compares the last half against the warm stretch before it.
warm_from = min(60, duration / 6)
warm = [kb for t, kb in series if warm_from <= t < tail_from]
last = [kb for t, kb in series if t >= tail_from]
mx_first, mx_warm, mx_last = max(first or [0]), max(warm or [0]), max(last or [0])
print(f"RSS: at start {rss0 / 1024:.1f} MB, first-minute max {mx_first / 1024:.1f} MB, max from "
      f"{warm_from:.0f} s to {tail_from:.0f} s {mx_warm / 1024:.1f} MB, max from "
      f"{tail_from:.0f} s {mx_last / 1024:.1f} MB (x{mx_last / max(mx_first, 1):.2f} the first minute's), "
      f"max {max(kb for _, kb in series) / 1024:.1f} MB, "
      f"at the end {rss_end / 1024:.1f} MB, after settling {rss_settled / 1024:.1f} MB")
for e in r["probe_errors"][:10]:
    print(f"  probe error: {e}")
for kind in ("smtp", "web"):
    if r[kind]["missing_examples"]:
        print(f"  {kind} missing, e.g. {r[kind]['missing_examples']}")
print("criteria:")
crit("every mail archived exactly once", s["archived"] == s["recorded"] and s["doubled"] == 0 and tried == s["recorded"],
     f"{s['archived']}/{s['recorded']} of {tried}, {s['doubled']} doubled")
crit("replies threaded with their parents", s["thread_mismatch"] == 0 and s["roots"] == s["root_threads"],
     f"{s['thread_mismatch']} misplaced; {s['roots']} topics in {s['root_threads']} threads")
ok_web = web["status"].get("303", 0) == web["attempts"] and web["attempts"] > 0
crit("every web post accepted (303)", ok_web, f"{web['status']}")
crit("every web post archived once and delivered",
     web["archived"] == web["recorded"] == web["delivered"] and web["doubled"] == 0,
     f"{web['archived']} archived, {web['delivered']} delivered of {web['recorded']}")
crit("no outbox failure", r["outbox"].get("failed", 0) == 0 and settle["outbox_waiting"] == 0,
     f"{r['outbox']}")
crit("no read errors", conn + rd + wr + to + non2xx == 0 and not r["probe_errors"],
     f"wrk {conn + rd + wr + to} socket, {non2xx} non-2xx/3xx; {len(r['probe_errors'])} probes")
crit("memory flat (late max <= 1.1 x max after warm-up)", mx_warm > 0 and mx_last <= 1.1 * mx_warm,
     f"{mx_last / 1024:.1f} MB vs {mx_warm / 1024:.1f} MB: x{mx_last / max(mx_warm, 1):.2f}")
crit("caught up within the settle time", settle["settled"], f"{settle['seconds']} s")
sys.exit(1 if failed else 0)
PY
verdict=$?
if [ "$serve_errors" -gt 0 ]; then
  echo "serve's first WARN/ERROR lines:"
  head -5 "$work/serve.problems" | cut -c1-300 | sed 's/^/  /'
fi
set -e
echo "serve's memory after settling: $mem_detail"
if [ "$verdict" -ne 0 ]; then
  keep=1 # the evidence
  echo "some criteria MISSED"
  if [ "${STRICT:-0}" = 1 ]; then
    exit 1
  fi
fi
