#!/usr/bin/env python3
"""Helpers of bench/imap.sh (standard library only).

  imap_helper.py split DEST N ARCHIVE.mbox.gz...
      write the first N messages of the archives (in order) as files DEST/0000001.eml ...
  imap_helper.py wait-sync DB SOURCE N TIMEOUT
      poll the database every 100 ms until SOURCE is `idle` with its cursor at UID >= N;
      print "END_EPOCH raw_messages messages" (END_EPOCH: when it was first seen so)
  imap_helper.py wait-idle DB TIMEOUT SOURCE...
      poll until every SOURCE is `idle`
  imap_helper.py latency DB SMTP_HOST SMTP_PORT RCPT COUNT INTERVAL_MS OUT.json
      send COUNT mails one per INTERVAL_MS, record when each was accepted, watch the database
      (read-only, every 5 ms) for each Message-ID; write the samples to OUT.json
  imap_helper.py delivery MAILDIR OUT.json
      Postfix -> Dovecot reference: add to OUT.json, for each sample, the time Dovecot's LMTP
      wrote the mail into the Maildir (its file name holds seconds and microseconds)
  imap_helper.py report OUT.json
      print the latency percentiles
"""
import json
import os
import re
import smtplib
import sqlite3
import sys
import threading
import time
import uuid

from benchlib import die, mbox_messages, pct_interpolated, ro


def split(dest, n, archives):
    os.makedirs(dest, exist_ok=True)
    count = 0
    for archive in archives:
        for msg in mbox_messages(archive):
            if count >= n:
                break
            count += 1
            with open(os.path.join(dest, f"{count:07d}.eml"), "wb") as f:
                f.write(msg)
        if count >= n:
            break
    if count < n:
        die(f"only {count} messages in {archives}, wanted {n}")
    print(count)


def connect_ro(db):
    conn = ro(db, timeout=5, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def source_states(conn):
    try:
        rows = conn.execute(
            "SELECT s.source, s.state, c.last_uid, s.last_error FROM source_status s "
            "LEFT JOIN imap_cursors c ON c.source = s.source"
        ).fetchall()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return {}
    return {r[0]: (r[1], r[2] or 0, r[3]) for r in rows}


def daemon_gone():
    """WATCH_PID (the daemon) has exited: waiting longer is pointless."""
    pid = os.environ.get("WATCH_PID")
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_sync(db, source, n, timeout):
    start = time.monotonic()
    conn = None
    last = None
    while time.monotonic() - start < timeout:
        if daemon_gone():
            die(f"the daemon exited while {source} was syncing (last seen: {last})")
        if conn is None and os.path.exists(db):
            try:
                conn = connect_ro(db)
            except sqlite3.Error:
                conn = None
        if conn is not None:
            st = source_states(conn).get(source)
            if st:
                last = st
                if st[0] == "idle" and st[1] >= n:
                    end = time.time()
                    raw = conn.execute("SELECT count(*) FROM raw_messages").fetchone()[0]
                    msgs = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
                    print(f"{end:.3f} {raw} {msgs}")
                    return
        time.sleep(0.1)
    die(f"source {source} not idle at UID {n} after {timeout} s (last seen: {last})")


def wait_idle(db, timeout, sources):
    start = time.monotonic()
    conn = None
    states = {}
    while time.monotonic() - start < timeout:
        if daemon_gone():
            die(f"the daemon exited before its sources were idle (last seen: {states})")
        if conn is None and os.path.exists(db):
            conn = connect_ro(db)
        if conn is not None:
            states = source_states(conn)
            if all(states.get(s, ("",))[0] == "idle" for s in sources):
                print(f"{time.monotonic() - start:.3f}")
                return
        time.sleep(0.1)
    die(f"sources not all idle after {timeout} s: {states}")


def latency(db, host, port, rcpt, count, interval_ms, out):
    tag = uuid.uuid4().hex[:12]
    ids = [f"lat-{tag}-{i:04d}@bench.lists.test" for i in range(count)]
    accepted = {}
    appeared = {}
    done = threading.Event()
    conn = connect_ro(db)
    (high,) = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
    wanted = set(ids)

    def watch():
        nonlocal high
        while True:
            finished = done.is_set()
            try:
                rows = conn.execute(
                    "SELECT id, message_id FROM messages WHERE id > ? ORDER BY id", (high,)
                ).fetchall()
            except sqlite3.OperationalError:
                rows = []
            now = time.time()
            for rid, mid in rows:
                high = max(high, rid)
                if mid in wanted and mid not in appeared:
                    appeared[mid] = now
            if len(appeared) == len(ids) or finished:
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    smtp = smtplib.SMTP(host, port, timeout=30)
    smtp.ehlo("bench.localhost")
    t0 = time.time()
    for i, mid in enumerate(ids):
        target = t0 + i * interval_ms / 1000.0
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        msg = (
            f"From: Bench Sender <bench@example.org>\r\n"
            f"To: {rcpt}\r\n"
            f"Subject: latency probe {i}\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{mid}>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Probe {i} of {count}: how long from Postfix's 250 to the archive.\r\n"
        )
        smtp.sendmail("bench@example.org", [rcpt], msg.encode())
        accepted[mid] = time.time()  # the 250 after DATA is in
    smtp.quit()
    # Up to 20 s for stragglers after the last send.
    deadline = time.time() + 20
    while len(appeared) < len(ids) and time.time() < deadline:
        time.sleep(0.05)
    done.set()
    watcher.join(5)
    samples = [
        {"id": m, "accepted": accepted[m], "appeared": appeared.get(m)} for m in ids
    ]
    with open(out, "w") as f:
        json.dump(samples, f)
    missing = sum(1 for s in samples if s["appeared"] is None)
    if missing:
        die(f"{missing} of {count} probes never appeared in the archive (samples in {out})")


NAME_TIME = re.compile(r"^(\d+)\.M(\d+)P")


def delivery(maildir, out):
    with open(out) as f:
        samples = json.load(f)
    by_id = {s["id"]: s for s in samples}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            m = NAME_TIME.match(name)
            if not m:
                continue
            path = os.path.join(d, name)
            try:
                with open(path, "rb") as fh:
                    head = fh.read(8192)
            except OSError:
                continue
            mm = re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", head)
            if mm and mm.group(1).decode() in by_id:
                by_id[mm.group(1).decode()]["delivered"] = int(m.group(1)) + int(m.group(2)) / 1e6
    with open(out, "w") as f:
        json.dump(samples, f)


def report(out):
    with open(out) as f:
        samples = json.load(f)
    lat = [(s["appeared"] - s["accepted"]) * 1000 for s in samples if s.get("appeared")]
    dlv = [(s["delivered"] - s["accepted"]) * 1000 for s in samples if s.get("delivered")]
    after = [
        (s["appeared"] - s["delivered"]) * 1000
        for s in samples
        if s.get("delivered") and s.get("appeared")
    ]

    def line(name, v):
        print(
            f"{name}: n={len(v)} median={pct_interpolated(v, 50):.0f} "
            f"p90={pct_interpolated(v, 90):.0f} p99={pct_interpolated(v, 99):.0f} max={max(v):.0f} ms"
        )

    line("LAT accepted->archive", lat)
    if dlv:
        line("DLV accepted->maildir", dlv)
        line("AFT maildir->archive", after)


def main():
    a = sys.argv[1:]
    if not a:
        die(__doc__)
    cmd = a[0]
    if cmd == "split":
        split(a[1], int(a[2]), a[3:])
    elif cmd == "wait-sync":
        wait_sync(a[1], a[2], int(a[3]), float(a[4]))
    elif cmd == "wait-idle":
        wait_idle(a[1], float(a[2]), a[3:])
    elif cmd == "latency":
        latency(a[1], a[2], int(a[3]), a[4], int(a[5]), int(a[6]), a[7])
    elif cmd == "delivery":
        delivery(a[1], a[2])
    elif cmd == "report":
        report(a[1])
    else:
        die(__doc__)


if __name__ == "__main__":
    main()
