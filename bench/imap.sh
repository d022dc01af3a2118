#!/usr/bin/env bash
# IMAP benchmark of `listbridge serve` (issue 4, "Speed") against the project's real mail rig
# (scripts/mailrig: Dovecot + Postfix on loopback), all in one run on a fresh rig:
#
#   1. initial sync of a 20,000-message mailbox over IMAPS: `mbsync` (isync) into a Maildir,
#      then `listbridge serve` into a fresh database (parse, thread and index included), until
#      the source is idle with every UID stored. Target: listbridge/mbsync >= 0.8.
#   2. latency: 200 mails sent through Postfix one per 100 ms; from Postfix's 250 to the
#      Message-ID being in the archive. Targets: median < 1 s, p99 < 2 s. Postfix -> Dovecot
#      delivery (the time in the Maildir file's name) is printed as the rig's own share.
#   3. idle cost: the daemon with three sources in IDLE for 60 s after their sync: CPU % (utime
#      + stime from /proc) and RSS. Targets: < 1 % CPU, < 50 MB.
#
#   bench/imap.sh            (as root: the rig's servers start as root)
#
# Environment: N (messages, default 20000), PROBES (default 200), IDLE_SECONDS (default 60),
# KEEP=1 keeps the work folder (databases, logs, messages) and prints where it is.
# Installs isync when mbsync is missing. Takes about 3 to 5 minutes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

N=${N:-20000}
PROBES=${PROBES:-200}
IDLE_SECONDS=${IDLE_SECONDS:-60}
EXTRA=300 # messages each for the second and third source of step 3
archives=("$root/../shared/corpora/archives/linux-man.mbox.gz" "$root/../shared/corpora/archives/linux-audit.mbox.gz")
helper="$root/bench/imap_helper.py"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

say() { printf '%s %s\n' "[$(date +%T)]" "$*" >&2; }

need_root
for a in "${archives[@]}"; do [ -f "$a" ] || die "no archive at $a"; done
need_tools mbsync=isync
say "building the release binary"
build_release

load_start=$(load)
daemon_pid=""
daemon_log=""
stop_daemon() {
  stop_pid "$daemon_pid" 250
  daemon_pid=""
}
bench_stop() { stop_daemon; }
kept_note="bench: work folder kept"
make_work "${TMPDIR:-/tmp}/listbridge-imapbench.XXXXXX"

# fail MESSAGE: says what failed and shows the end of every log that may tell why.
fail() {
  echo >&2
  echo "bench: FAILED: $*" >&2
  local f
  for f in "$daemon_log" "$work/mbsync.log" "$work/deliver.log" "${DOVECOT_LOG:-}" "${POSTFIX_LOG:-}"; do
    if [ -z "$f" ] || [ ! -s "$f" ]; then continue; fi
    echo "---- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

# ---------------------------------------------------------------- the rig and the messages

say "starting a fresh mail rig in $work/rig"
start_rig

say "writing the first $N (+$((2 * EXTRA))) messages of linux-man, then linux-audit, as files"
"$py" "$helper" split "$work/all" $((N + 2 * EXTRA)) "${archives[@]}" >/dev/null || fail "splitting the archives"
mkdir -p "$work/msgs" "$work/alice" "$work/bob"
(
  cd "$work/all"
  ls | sort >"$work/names"
  head -n "$N" "$work/names" | xargs mv -t "$work/msgs"
  sed -n "$((N + 1)),$((N + EXTRA))p" "$work/names" | xargs mv -t "$work/alice"
  sed -n "$((N + EXTRA + 1)),$((N + 2 * EXTRA))p" "$work/names" | xargs mv -t "$work/bob"
)
mail_bytes=$(du -sb "$work/msgs" | cut -f1)

say "seeding $LIST_USER's INBOX with $N messages (doveadm import)"
t0=$(now)
scripts/mailrig deliver "$rig" "$LIST_USER" "$work/msgs" >"$work/deliver.log" 2>&1 || fail "mailrig deliver"
seed_secs=$(elapsed "$t0" "$(now)")

# ---------------------------------------------------------------- 1a. mbsync

mkdir -p "$work/mbsync-maildir"
cat >"$work/mbsyncrc" <<EOF
IMAPAccount rig
Host $TLS_SERVER_NAME
Port $IMAPS_PORT
User $LIST_USER
Pass $LIST_PASSWORD
SSLType IMAPS
CertificateFile $CA_FILE

IMAPStore rig-remote
Account rig

MaildirStore local
Path $work/mbsync-maildir/
Inbox $work/mbsync-maildir/INBOX

Channel bench
Far :rig-remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
# run_mbsync NAME FSYNC: a fresh Maildir, mbsync's defaults but for FSync; prints the seconds.
run_mbsync() {
  local name=$1 fsync=$2 t0 secs got
  mkdir -p "$work/$name"
  { echo "FSync $fsync"; echo; sed "s#$work/mbsync-maildir#$work/$name#" "$work/mbsyncrc"; } >"$work/$name.rc"
  t0=$(now)
  timeout 300 mbsync -c "$work/$name.rc" bench >"$work/mbsync.log" 2>&1 || fail "mbsync ($name)"
  secs=$(elapsed "$t0" "$(now)")
  got=$(find "$work/$name/INBOX" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
  [ "$got" -eq "$N" ] || fail "mbsync ($name) fetched $got messages, not $N"
  echo "$secs"
}
say "1a. mbsync pulling $N messages over IMAPS into a fresh Maildir (its default, FSync yes)"
mbsync_secs=$(run_mbsync mbsync-maildir yes)
say "    mbsync: ${mbsync_secs} s; again with FSync no (no fsync per message, like SQLite's WAL + NORMAL)"
mbsync_nofsync_secs=$(run_mbsync mbsync-nofsync no)
say "    mbsync (FSync no): ${mbsync_nofsync_secs} s"

# ---------------------------------------------------------------- 1b. listbridge

# write_config FILE DB SOURCE:USER:PASSWORD...
write_config() {
  local file=$1 db=$2 s name user pass
  shift 2
  {
    printf '[store]\npath = "%s"\n\n[web]\nlisten = "127.0.0.1:0"\n' "$db"
    for s in "$@"; do
      IFS=: read -r name user pass <<<"$s"
      printf '\n[[sources]]\nname = "%s"\nhost = "%s"\nport = %s\ntls = "implicit"\n' "$name" "$IMAP_HOST" "$IMAPS_PORT"
      printf 'user = "%s"\npassword = "%s"\nmailbox = "INBOX"\nca_file = "%s"\npoll_seconds = 3600\n' "$user" "$pass" "$CA_FILE"
    done
  } >"$file"
  "$bin" check-config --config "$file" >/dev/null 2>"$work/check-config.log" || { cat "$work/check-config.log" >&2; fail "check-config $file"; }
}
start_daemon() { # CONFIG DB LOG
  daemon_log=$3
  "$bin" --db "$2" serve --config "$1" </dev/null >"$3" 2>&1 &
  daemon_pid=$!
}
proc_ticks() { # utime + stime of the whole process, in clock ticks
  local s
  s=$(cat "/proc/$1/stat") || return 1
  s=${s##*) }
  # fields after "comm": state is 1st, utime the 12th, stime the 13th
  awk '{ print $12 + $13 }' <<<"$s"
}

db1="$work/sync.db"
write_config "$work/one.toml" "$db1" "list-inbox:$LIST_USER:$LIST_PASSWORD"
say "1b. listbridge serve syncing the same $N messages over IMAPS into a fresh database"
t0=$(now)
start_daemon "$work/one.toml" "$db1" "$work/daemon1.log"
read -r t1 raw_count msg_count < <(WATCH_PID=$daemon_pid "$py" "$helper" wait-sync "$db1" list-inbox "$N" 300 || echo FAIL) || true
[ "${t1:-FAIL}" != FAIL ] || fail "listbridge initial sync (see above)"
lb_secs=$(elapsed "$t0" "$t1")
sync_cpu=$(awk -v t="$(proc_ticks "$daemon_pid")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
sync_rss_kib=$(vm_kib "$daemon_pid" VmRSS)
sync_hwm_kib=$(vm_kib "$daemon_pid" VmHWM)
say "    listbridge: ${lb_secs} s ($raw_count raw messages, $msg_count messages)"
[ "$raw_count" -gt 0 ] || fail "the archive is empty after the sync"
mbsync_rate=$(rate "$N" "$mbsync_secs")
lb_rate=$(rate "$N" "$lb_secs")
ratio=$(awk -v a="$mbsync_secs" -v b="$lb_secs" 'BEGIN { printf "%.2f", a / b }')
mbsync_nofsync_rate=$(rate "$N" "$mbsync_nofsync_secs")
ratio_nofsync=$(awk -v a="$mbsync_nofsync_secs" -v b="$lb_secs" 'BEGIN { printf "%.2f", a / b }')

# ---------------------------------------------------------------- 2. latency

say "2. latency: $PROBES mails through Postfix, one per 100 ms, to $LIST_USER (daemon in IDLE)"
"$py" "$helper" latency "$db1" "$SMTP_HOST" "$SMTP_PORT" "$LIST_USER" "$PROBES" 100 "$work/latency.json" \
  2>"$work/latency.log" || { cat "$work/latency.log" >&2; fail "latency probes"; }
"$py" "$helper" delivery "$MAIL_ROOT/$LIST_USER/Maildir" "$work/latency.json" 2>>"$work/latency.log" || true
latency_report=$("$py" "$helper" report "$work/latency.json") || fail "latency report"
echo "$latency_report" | sed 's/^/    /' >&2
after_rss_kib=$(vm_kib "$daemon_pid" VmRSS)
stop_daemon

# ---------------------------------------------------------------- 3. idle cost

say "3. idle cost: seeding $EXTRA messages each for $ALICE_USER and $BOB_USER"
scripts/mailrig deliver "$rig" "$ALICE_USER" "$work/alice" >>"$work/deliver.log" 2>&1 || fail "mailrig deliver (alice)"
scripts/mailrig deliver "$rig" "$BOB_USER" "$work/bob" >>"$work/deliver.log" 2>&1 || fail "mailrig deliver (bob)"
db3="$work/three.db"
write_config "$work/three.toml" "$db3" "list-inbox:$LIST_USER:$LIST_PASSWORD" \
  "alice-inbox:$ALICE_USER:$ALICE_PASSWORD" "bob-inbox:$BOB_USER:$BOB_PASSWORD"
say "    a fresh database and three sources: initial sync of $((N + PROBES)) + $EXTRA + $EXTRA messages"
t0=$(now)
start_daemon "$work/three.toml" "$db3" "$work/daemon3.log"
t1=$(WATCH_PID=$daemon_pid "$py" "$helper" wait-idle "$db3" 300 list-inbox alice-inbox bob-inbox) ||
  fail "three sources did not reach idle"
sync3_secs=$(elapsed "$t0" "$(now)")
sleep 2 # let the last sync's work settle
say "    three sources idle after ${sync3_secs} s; measuring for ${IDLE_SECONDS} s"
hz=$(getconf CLK_TCK)
ticks0=$(proc_ticks "$daemon_pid") || fail "the daemon is gone"
i0=$(now)
sleep "$IDLE_SECONDS"
ticks1=$(proc_ticks "$daemon_pid") || fail "the daemon died while idle"
i1=$(now)
idle_rss_kib=$(vm_kib "$daemon_pid" VmRSS)
idle_hwm_kib=$(vm_kib "$daemon_pid" VmHWM)
idle_anon_kib=$(vm_kib "$daemon_pid" RssAnon)
threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$daemon_pid/status")
cpu_pct=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" -v s="$(elapsed "$i0" "$i1")" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
states=$("$bin" --db "$db3" status --json 2>/dev/null | "$py" -c 'import json,sys; print(" ".join(s["source"] + "=" + s["state"] for s in json.load(sys.stdin)["sources"]))') || states="?"
stop_daemon
say "    restarting the daemon on that database (nothing new to sync): memory once idle"
start_daemon "$work/three.toml" "$db3" "$work/daemon3b.log"
WATCH_PID=$daemon_pid "$py" "$helper" wait-idle "$db3" 120 list-inbox alice-inbox bob-inbox >/dev/null ||
  fail "three sources did not reach idle after a restart"
sleep 3
restart_rss_kib=$(vm_kib "$daemon_pid" VmRSS)
stop_daemon

# ---------------------------------------------------------------- summary

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "NOT met"; fi; }
lat_med=$(awk '/^LAT/ { for (i = 1; i <= NF; i++) if ($i ~ /^median=/) { sub("median=", "", $i); print $i } }' <<<"$latency_report")
lat_p99=$(awk '/^LAT/ { for (i = 1; i <= NF; i++) if ($i ~ /^p99=/) { sub("p99=", "", $i); print $i } }' <<<"$latency_report")

cat <<EOF

==================== listbridge IMAP benchmark ($(date -u +%FT%TZ), $(nproc) cores) ====================
load average: $load_start at the start, $(load) at the end (other work on the machine skews every figure)
mailbox: $N messages ($(mb $((mail_bytes / 1024))) MB), Dovecot on loopback, IMAPS (seeded by doveadm import in ${seed_secs} s)
1. initial sync
   mbsync (isync, defaults)    ${mbsync_secs} s   ${mbsync_rate} msg/s
   mbsync with FSync no        ${mbsync_nofsync_secs} s   ${mbsync_nofsync_rate} msg/s
   listbridge serve            ${lb_secs} s   ${lb_rate} msg/s   ($raw_count raw / $msg_count messages stored)
   ratio listbridge/mbsync throughput: ${ratio}   (target >= 0.8: $(verdict "$ratio >= 0.8"))
   ratio listbridge/mbsync (FSync no): ${ratio_nofsync}   (same bar: $(verdict "$ratio_nofsync >= 0.8"))
   daemon CPU during the sync: ${sync_cpu} s over ${lb_secs} s wall (2 cores available)
   daemon after the sync: RSS $(mb "$sync_rss_kib") MB, peak $(mb "$sync_hwm_kib") MB
2. latency, Postfix 250 -> in the archive ($PROBES mails, one per 100 ms)
$(sed 's/^/   /' <<<"$latency_report")
   (LAT: the bridge's figure; DLV: Postfix -> Dovecot Maildir, the rig's own share; AFT: the rest)
   median < 1000 ms: $(verdict "${lat_med:-99999} < 1000"), p99 < 2000 ms: $(verdict "${lat_p99:-99999} < 2000")
   daemon RSS after the probes: $(mb "$after_rss_kib") MB
3. idle, three sources in IDLE for ${IDLE_SECONDS} s after their initial sync (${sync3_secs} s) ($states)
   CPU ${cpu_pct} %   (target < 1 %: $(verdict "$cpu_pct < 1"))
   RSS $(mb "$idle_rss_kib") MB (anonymous $(mb "$idle_anon_kib") MB), peak $(mb "$idle_hwm_kib") MB, $threads threads   (target < 50 MB: $(verdict "$idle_rss_kib < 51200"))
   the same daemon restarted, idle with nothing to sync: RSS $(mb "$restart_rss_kib") MB   ($(verdict "$restart_rss_kib < 51200"))
======================================================================================================
EOF
