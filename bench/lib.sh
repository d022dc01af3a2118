# shellcheck shell=bash
# What the benchmark scripts share: sourced (`. "$(dirname "$0")/lib.sh"`), never run.
#
# Sourcing it moves to the project's root and sets `root`. The functions: messages (say, die,
# fail_with), the machine's load, tools installed when missing, the release build, a work
# folder cleaned up on exit (with the processes the script started and its mail rig), the
# mail rig (scripts/mailrig), stopping processes, waiting for a server, /proc figures and
# signing an admin in. A script may define `bench_stop` (called first on exit) and redefine
# `say` after sourcing.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
PATH="$PATH:/usr/sbin:/sbin" # postconf, nginx
export PYTHONDONTWRITEBYTECODE=1 # the helpers import bench/benchlib.py: no __pycache__ in bench/
bench_name="${0##*/}"         # load.sh
bench_tag="${bench_name%.sh}" # load
keep="${KEEP:-0}"             # 1: keep the work folder (a script may set it when a check fails)
keep_on_failure=1             # 0: remove the work folder even when the script fails
kept_note="work folder kept"
work=""
rig=""

say() { echo "[$bench_tag $(date +%T)] $*"; }
die() {
  echo "bench/$bench_name: $*" >&2
  exit 1
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# fail_with LOG MESSAGE: the message and the log's tail.
fail_with() {
  echo "--- last lines of $1:" >&2
  tail -25 "$1" >&2 || true
  die "$2"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "run me as root (the mail rig's servers start as root)"
}

# apt_install PACKAGE...: quietly, the log's tail shown on failure.
apt_install() {
  local log="/tmp/listbridge-$bench_tag-apt.log"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } \
    >"$log" 2>&1 || {
    tail -20 "$log" >&2
    die "could not install $*"
  }
}

# need_tools COMMAND[=PACKAGE]...: installs the packages of the commands missing.
need_tools() {
  local spec missing=()
  for spec in "$@"; do
    command -v "${spec%%=*}" >/dev/null || missing+=("${spec#*=}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

# show_start TITLE: the benchmark's title with the machine's cores and load, and what else
# runs (other work skews every figure).
show_start() {
  echo "== $1  ($(nproc) cores, load average at start: $(load))"
  echo "busiest processes at start (CPU % over 1 s):"
  top -b -n 2 -d 1 -w 200 2>/dev/null | awk '/^ *PID/ { n++; next } n == 2 && NF >= 12 && $9 + 0 > 0.5 { printf "  %5.1f%%  %s\n", $9, $12 }' | head -6 || true
}

# build_release [TIMEOUT]: the release binary, as `bin` (CARGO_TARGET_DIR honoured); the
# build's output goes to $work/build.log when there is a work folder.
build_release() {
  if [ -n "$work" ]; then
    timeout "${1:-1800}" cargo build --release --quiet >"$work/build.log" 2>&1 ||
      fail_with "$work/build.log" "cargo build failed"
  else
    timeout "${1:-1800}" cargo build --release --quiet
  fi
  bin="${CARGO_TARGET_DIR:-$root/target}/release/listbridge"
  [ -x "$bin" ] || die "no binary at $bin"
}

# stop_pid PID [TENTHS]: TERM, up to TENTHS tenths of a second (default 100), then KILL.
stop_pid() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq "${2:-100}"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# make_work TEMPLATE: the work folder (mktemp -d TEMPLATE) as `work`, readable by the rig's
# servers (users mail and postfix) and nginx's workers; on exit, `bench_stop` if the script
# defines it, the rig stopped if one was started, and the folder removed unless kept.
make_work() {
  work="$(mktemp -d "$1")"
  chmod 755 "$work"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local rc=$?
  trap - EXIT
  if declare -F bench_stop >/dev/null; then bench_stop; fi
  if [ -n "$rig" ]; then scripts/mailrig stop "$rig" >/dev/null 2>&1 || true; fi
  if [ "$keep" = 1 ] || { [ "$keep_on_failure" = 1 ] && [ "$rc" -ne 0 ]; }; then
    echo "$kept_note: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}

# start_rig: a private mail rig in $work/rig (scripts/mailrig), its settings (rig.env:
# SMTP_HOST, IMAP_HOST, LIST_USER, ...) in the shell and Postfix's queue_dir; stopped on exit.
# The work folder must be short and under /tmp: the rig's sockets live under it (path length
# limits).
start_rig() {
  rig="$work/rig"
  scripts/mailrig start "$rig" >"$work/rig.start.log" 2>&1 || fail_with "$work/rig.start.log" "scripts/mailrig start failed"
  # shellcheck disable=SC1091
  . "$rig/rig.env"
  queue_dir="$(postconf -c "$POSTFIX_CONFIG_DIR" -h queue_directory)"
}

# wait_http URL PID LOG [SECONDS]: until URL answers (anything but a refused connection),
# while PID lives.
wait_http() {
  local url="$1" pid="$2" log="$3" limit="${4:-30}"
  for _ in $(seq $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || fail_with "$log" "the server exited before answering $url"
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.1
  done
  fail_with "$log" "no answer from $url within ${limit} s"
}

# web_only SITE_NAME LIST: a free local port as `port` and `base`, a configuration in
# $work/config.toml serving only the web on it with the one list LIST, and `lb` the command
# with it and $work/lb.db.
web_only() {
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  cat >"$work/config.toml" <<CFG
[web]
listen = "127.0.0.1:$port"
site_name = "$1"
base_url = "$base"
[[lists]]
name = "$2"
CFG
  lb=("$bin" --db "$work/lb.db" --config "$work/config.toml")
}

# start_serve LOG: `listbridge serve` (the command in the array `lb`) in the background as
# `serve_pid`, once $base/healthz answers.
start_serve() {
  "${lb[@]}" serve >"$1" 2>&1 &
  serve_pid=$!
  wait_http "$base/healthz" "$serve_pid" "$1" 30
}

# admin_link LOG ADDRESS NAME: creates an admin (`lb`); prints the one-time sign-in link.
admin_link() {
  "${lb[@]}" admin create "$2" --name "$3" >"$1" 2>&1 || fail_with "$1" "admin create failed"
  grep -o 'http://[^ ]*/signin/[^ ]*' "$1" || fail_with "$1" "admin create printed no link"
}

# notmuch_config FILE MAILDIR: a notmuch configuration for the messages of MAILDIR, its
# database beside them, no tag excluded from searches.
notmuch_config() {
  cat >"$1" <<CFG
[database]
path=$2
[user]
name=Bench
primary_email=bench@example.org
[new]
tags=inbox;
[search]
exclude_tags=
[maildir]
synchronize_flags=false
CFG
}

# vm_kib PID KEY: a figure of /proc/PID/status in KiB (VmRSS, VmHWM, RssAnon, ...).
vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
