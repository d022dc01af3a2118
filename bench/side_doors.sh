#!/usr/bin/env bash
# Side doors measured: what the costliest searches a stranger can send cost, and whether the
# time a password sign-in takes tells who has a password.
#
#   bench/side_doors.sh [ARCHIVE.mbox.gz]   (default: linux-man.mbox.gz of the shared corpora)
#
# In one go: builds the release binary (or takes LISTBRIDGE_BIN); imports the archive into a
# fresh database; serves it with the default settings; then, signed out:
#   1. each query of the hostile set below on /search and /api/search, first uncached then
#      again from the cache, timed as whole requests on loopback (milliseconds), with the
#      answer's status; the slowest of all is the figure;
#   2. password sign-ins (TRIES each, default 5: under the per-client limit) for an address
#      with a password (a wrong one given), an address without a password, and an address no
#      one has: the median and range of each, and the largest difference of medians.
# Environment: TRIES, LISTBRIDGE_BIN, KEEP=1 keeps the work folder, LISTBRIDGE_CORPORA.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
corpora="${LISTBRIDGE_CORPORA:-$root/../shared/corpora}"
archive="$(realpath "${1:-$corpora/archives/linux-man.mbox.gz}")"
[ -f "$archive" ] || die "no archive at $archive"
TRIES="${TRIES:-5}"

make_work "${TMPDIR:-/tmp}/listbridge-side.XXXXXX"
if [ -n "${LISTBRIDGE_BIN:-}" ]; then bin="$LISTBRIDGE_BIN"; else build_release; fi
show_start "side doors: hostile searches and sign-in timing"
serve_pid=""
bench_stop() { stop_pid "$serve_pid"; }

web_only "Side doors bench" bench
say "importing $(basename "$archive")"
"${lb[@]}" import "$archive" >"$work/import.log" 2>&1 || fail_with "$work/import.log" "import failed"
with_password="$(admin_link "$work/a1.log" "has.password@bench.test" "Has Password")"
without_password="$(admin_link "$work/a2.log" "no.password@bench.test" "No Password")"
start_serve "$work/serve.log"

python3 - "$base" "$with_password" "$without_password" "$TRIES" <<'PY'
import statistics, sys, time, urllib.parse
sys.path.insert(0, "bench")
import benchlib as b

base, link_pw, link_nopw, tries = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# --- 1. hostile searches, signed out ---------------------------------------------------------
long_phrase = '"' + " ".join(["the kernel page of the manual"] * 4) + '"'
queries = {
    "the": "the",
    "the x64": " ".join(["the"] * 64),
    "64 long phrases": " ".join([long_phrase] * 64),
    "a x64": " ".join(["a"] * 64),
    "5000 chars": "linux " + "x" * 5000,
    "common words": "the and of to a in is for",
    "prefixes": " ".join(f"{c}*" for c in "abcdefghijklmnop"),
    "from: prefix": "from:m",
    "negations": "the -a -of -to -in -is -for -and",
}
_, op = b.opener()
rows, worst = [], (0.0, "")
for name, q in queries.items():
    for path in ("/search", "/api/search"):
        url = f"{base}{path}?q={urllib.parse.quote(q)}"
        for kind in ("uncached", "cached"):
            t = time.perf_counter()
            status, _, _ = b.request(op, url)
            ms = (time.perf_counter() - t) * 1000
            rows.append((name, path, kind, status, ms))
            if ms > worst[0]:
                worst = (ms, f"{name} on {path}, {kind}")
print(f"{'query':<18} {'route':<12} {'':<9} {'status':>6} {'ms':>9}")
for name, path, kind, status, ms in rows:
    print(f"{name:<18} {path:<12} {kind:<9} {status:>6} {ms:>9.1f}")
print(f"slowest search: {worst[0]:.1f} ms ({worst[1]})")

# --- 2. password sign-in timing --------------------------------------------------------------
def session_of(link):
    jar, op = b.opener()
    path = urllib.parse.urlsplit(link).path
    status, _, page = b.request(op, base + path)
    token = b.hidden(page, "form_token")
    status, _, _ = b.request(op, base + path, {"form_token": token, "next": "/"})
    if status != 303:
        b.die(f"signing in by link answered {status}")
    return op

op = session_of(link_pw)
_, _, page = b.request(op, base + "/account")
csrf = b.hidden(page, "csrf")
status, _, _ = b.request(op, base + "/account/password",
                         {"csrf": csrf, "password": "correct horse battery", "confirm": "correct horse battery"})
if status not in (200, 303):
    b.die(f"setting the password answered {status}")
session_of(link_nopw)  # the account exists, without a password

def timed(address):
    out = []
    for _ in range(tries):
        _, op = b.opener()
        _, _, page = b.request(op, base + "/signin")
        token = b.hidden(page, "form_token")
        t = time.perf_counter()
        status, _, _ = b.request(op, base + "/signin/password",
                                 {"form_token": token, "email": address, "password": "wrong guess", "next": "/"})
        out.append((time.perf_counter() - t) * 1000)
        if status == 429:
            b.die("the per-client password limit answered: lower TRIES")
    return out

medians = {}
print()
print(f"{'sign-in with a wrong password':<34} {'median ms':>10} {'range ms':>16}")
for label, address in (("address with a password", "has.password@bench.test"),
                       ("address without a password", "no.password@bench.test"),
                       ("address no one has", "nobody@bench.test")):
    ms = timed(address)
    medians[label] = statistics.median(ms)
    print(f"{label:<34} {medians[label]:>10.1f} {min(ms):>7.1f} to {max(ms):>5.1f}")
spread = max(medians.values()) - min(medians.values())
print(f"largest difference of medians: {spread:.1f} ms")
PY
