#!/usr/bin/env python3
"""Helpers for bench/web.sh (standard library only).

  freeport                          a free loopback TCP port
  thread DB                         "ID COUNT": the thread nearest 50 messages
  maildir ARCHIVE.mbox.gz DEST      the archive's messages as a Maildir (for notmuch)
  lua QUERIES.tsv OUT.lua           a wrk script rotating /search?q=... over the queries
  check PORT QUERIES.tsv            every query answers 200 on /search; prints the hit counts
                                    and how long each query's first /search took (uncached)
  probe PORT QUERIES.tsv N PID      per query: median latency of /search (cached after the
                                    first) and median and p95 of /api/search (never cached)
                                    (N requests each, one keep-alive connection), and the
                                    server's (PID's) CPU time per /api/search request
  cpums PID                         CPU time (user + system, ms) of PID and its children
  signin BASE LINK                  sign in with a one-time link; print the session cookie
  crawl PORT DB N                   every thread page, then N distinct one-word searches
                                    (words of the archive's subjects), 8 connections at once;
                                    prints "pages searches errors"
  proctimes OUT QUERIES.tsv N COL CMD...
                                    runs CMD QUERY (whole process) N times per query,
                                    interleaved; writes per-query medians to OUT and prints
                                    "p50 p95" (ms) over all runs. COL: 0 listbridge, 1 notmuch
"""

import concurrent.futures
import http.client
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

from benchlib import cpu_ms, freeport, maildir, pct_nearest, ro, signin, wrk_rotation


def queries(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            lb, nm = line.split("\t")
            out.append((lb, nm))
    return out


def thread(db):
    c = ro(db)
    row = c.execute(
        "SELECT thread_id, count(*) FROM messages GROUP BY thread_id "
        "ORDER BY abs(count(*)-50) LIMIT 1"
    ).fetchone()
    print(*row)


def path_for(q, api=False):
    return ("/api/search?q=" if api else "/search?q=") + urllib.parse.quote(q, safe="")


def lua(tsv, out):
    with open(out, "w") as f:
        f.write(wrk_rotation([path_for(lb) for lb, _ in queries(tsv)]))


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def check(port, tsv):
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bad = 0
    for lb, _ in queries(tsv):
        t = time.perf_counter()
        status, _ = get(conn, path_for(lb))
        first = (time.perf_counter() - t) * 1000
        astatus, body = get(conn, path_for(lb, api=True))
        total = json.loads(body).get("total") if astatus == 200 else None
        print(f"{lb}\t{status}\t{total}\t{first:.2f}")
        bad += status != 200
    sys.exit(1 if bad else 0)


def probe(port, tsv, n, pid):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for lb, _ in queries(tsv):
        row = []
        for api in (False, True):
            times = []
            cpu0 = cpu_ms([pid])
            for _ in range(n):
                t = time.perf_counter()
                get(conn, path_for(lb, api))
                times.append((time.perf_counter() - t) * 1000)
            row.append(statistics.median(times))
        cpu = (cpu_ms([pid]) - cpu0) / n
        print(f"{lb}\t{row[0]:.2f}\t{row[1]:.2f}\t{pct_nearest(times, 95):.2f}\t{cpu:.2f}")


def proctimes(out, tsv, n, col, cmd):
    qs = [q[col] for q in queries(tsv)]
    per = {q: [] for q in qs}
    for q in qs:  # warm the page cache
        subprocess.run(cmd + [q], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(n):
        for q in qs:
            t = time.perf_counter()
            r = subprocess.run(cmd + [q], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            per[q].append((time.perf_counter() - t) * 1000)
            if r.returncode != 0:
                sys.exit(f"{cmd[0]} failed on {q!r}: {r.stderr.decode(errors='replace')[-500:]}")
    with open(out, "w") as f:
        for q in qs:
            f.write(f"{q}\t{statistics.median(per[q]):.2f}\n")
    every = [t for ts in per.values() for t in ts]
    print(f"{pct_nearest(every, 50):.2f} {pct_nearest(every, 95):.2f}")


def crawl(port, db, n):
    c = ro(db)
    threads = [r[0] for r in c.execute("SELECT id FROM threads WHERE message_count > 0")]
    words = []
    seen = set()
    for (subject,) in c.execute("SELECT subject FROM messages WHERE subject IS NOT NULL"):
        for w in re.findall(r"[a-z]{4,}", subject.lower()):
            if w not in seen:
                seen.add(w)
                words.append(w)
    paths = [f"/t/{t}" for t in threads] + [path_for(w) for w in words[:n]]
    if len(words) < n:
        sys.exit(f"only {len(words)} distinct words for {n} searches")

    def fetch(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        bad = 0
        for p in chunk:
            status, _ = get(conn, p)
            bad += status != 200
        return bad

    chunks = [paths[i::8] for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        errors = sum(pool.map(fetch, chunks))
    print(len(threads), n, errors)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "freeport":
        freeport()
    elif cmd == "thread":
        thread(args[0])
    elif cmd == "maildir":
        print(maildir(args[0], args[1]))
    elif cmd == "lua":
        lua(args[0], args[1])
    elif cmd == "check":
        check(int(args[0]), args[1])
    elif cmd == "probe":
        probe(int(args[0]), args[1], int(args[2]), args[3])
    elif cmd == "cpums":
        print(cpu_ms([args[0]]))
    elif cmd == "signin":
        signin(args[0], args[1])
    elif cmd == "crawl":
        crawl(int(args[0]), args[1], int(args[2]))
    elif cmd == "proctimes":
        proctimes(args[0], args[1], int(args[2]), int(args[3]), args[4:])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
