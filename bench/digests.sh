#!/usr/bin/env bash
# Digest benchmark: building the daily digests for 5,000 members (target: under 10 s).
#
#   bench/digests.sh
#
# Builds the release binary; makes a fresh database with the sample interests, N members
# (default 5,000; a third watching one interest, a third muting one, all with a daily digest)
# and a day of list traffic (POSTS messages, default 400, in 60 threads over the sample's
# topics, imported as an mbox dated in the last 24 hours); then times `listbridge digests --all`,
# which chooses each member's posts, groups them by interest, renders text and HTML and queues
# one mail per member in the outbox. Nothing is sent (no `serve` runs). Prints the time, the
# digests queued and their average size. Environment: N, POSTS, KEEP=1 keeps the work folder.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N="${N:-5000}"
POSTS="${POSTS:-400}"

build_release
keep_on_failure=0
make_work /tmp/lbdigest.XXXXXX

cat >"$work/config.toml" <<TOML
[store]
path = "$work/forum.db"
[web]
site_name = "SNUG forum"
base_url = "https://forum.example.org"
[outbound]
host = "127.0.0.1"
from_address = "forum@lists.example.org"
[[lists]]
name = "snug"
address = "snug@lists.example.org"
TOML
cat "$root/fixtures/sample/interests.toml" >>"$work/config.toml"

say "generating $N members and $POSTS posts"
python3 - "$work" "$N" "$POSTS" <<'PY'
import sys, time, random
from email.utils import formatdate
work, n, posts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
with open(f"{work}/roster.txt", "w") as f:
    for i in range(1, n + 1):
        f.write(f"Member {i:04d} <m{i:04d}@members.example>\n")
topics = [
    ("Asthma inhaler technique", "asthma inhaler spacer"),
    ("COPD rescue packs", "COPD rescue pack"),
    ("Flu clinic staffing", "flu clinic vaccination"),
    ("Eczema referral", "eczema dermatology"),
    ("CXR walk-in hours", "x-ray radiology"),
    ("Locum rates", "locum rota"),
    ("Car park resurfacing", "car park"),
]
now = time.time()
with open(f"{work}/day.mbox", "w") as f:
    for p in range(posts):
        t = p % 60
        subject, words = topics[t % len(topics)]
        date = now - 86000 + p * (80000 / posts)
        first = p < 60
        mid = f"<bench-{p}@members.example>"
        parent = f"<bench-{t}@members.example>"
        author = random.randint(1, n)
        f.write(f"From m{author:04d}@members.example {time.asctime(time.gmtime(date))}\n")
        f.write(f"From: Member {author:04d} <m{author:04d}@members.example>\n")
        f.write(f"Subject: {'' if first else 'Re: '}{subject} ({t})\nMessage-ID: {mid}\n")
        if not first:
            f.write(f"In-Reply-To: {parent}\nReferences: {parent}\n")
        f.write(f"Date: {formatdate(date)}\n\n")
        f.write(f"About {words}: a post of a busy clinical list, number {p}.\nThanks, Member {author:04d}\n\n")
PY
export LISTBRIDGE_CONFIG="$work/config.toml"
"$bin" members import "$work/roster.txt" >/dev/null
"$bin" import "$work/day.mbox" >/dev/null 2>&1
python3 - "$work/forum.db" "$N" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2])
ids = [r[0] for r in db.execute("SELECT id FROM interests ORDER BY id")]
users = [r[0] for r in db.execute("SELECT id FROM users ORDER BY id")]
db.execute("UPDATE users SET delivery = 'chosen', digest = 'daily'")
for k, u in enumerate(users):
    if k % 3 == 0:
        db.execute("INSERT INTO interest_prefs VALUES (?, ?, 'watch')", (u, ids[k % len(ids)]))
    elif k % 3 == 1:
        db.execute("INSERT INTO interest_prefs VALUES (?, ?, 'mute')", (u, ids[k % len(ids)]))
db.commit()
PY
say "timing listbridge digests --all"
start=$(date +%s.%N)
out=$("$bin" digests --all)
end=$(date +%s.%N)
echo "$out"
python3 - "$work/forum.db" "$start" "$end" "$N" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
queued, size = db.execute("SELECT count(*), avg(size) FROM outbox WHERE kind = 'notice'").fetchone()
secs = float(sys.argv[3]) - float(sys.argv[2])
print(f"== summary: {queued} digests for {sys.argv[4]} members in {secs:.2f} s "
      f"(process included), {queued / secs:,.0f} digests/s, average {size or 0:,.0f} bytes; "
      f"target under 10 s: {'MET' if secs < 10 else 'MISSED'}")
PY
