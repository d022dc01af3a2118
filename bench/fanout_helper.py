#!/usr/bin/env python3
"""Helpers of bench/fanout.sh (standard library only).

  fanout_helper.py freeport
      a free loopback TCP port
  fanout_helper.py roster N FILE
      write the roster "Member 0001 <m0001@members.test>" ... for `listbridge members import`
  fanout_helper.py qwait QUEUE_DIR TIMEOUT
      wait until Postfix's queue (incoming, active, deferred, maildrop, hold) is empty, so one
      phase's mail is not still being handled while the next phase is timed
  fanout_helper.py cpums PID...
      CPU time (ms, user + system) of each PID (with its reaped children) and of its live
      children, summed
  fanout_helper.py signin BASE LINK
      sign in with a one-time link as a browser does; print the lb_session cookie's value
  fanout_helper.py fanout BASE SESSION BIN DB CONFIG N OUT.json -- WRK-COMMAND...
      the timed part: post a new thread on /l/snug/new; once the POST has answered, run each
      WRK-COMMAND (separated by "--"; "{thread}" becomes the new thread's id) in the
      background; poll `listbridge status --json` every 100 ms until N copies are sent (fail
      when one failed); stop the wrk runs with SIGINT (wrk then prints its results); write
      the timings and the queued post's size to OUT.json
  fanout_helper.py sample BASE THREAD OUT SESSION
      the new thread's message as mailed (from /t/THREAD/mbox, signed in: a host-mode list's
      archive is for its members), for the baseline to send
  fanout_helper.py baseline HOST PORT N SAMPLE
      Python's smtplib on one reused connection: N messages (SAMPLE with a per-recipient
      Reply-To, as listbridge's copies have) to m0001@members.test ...; print the seconds and
      a copy's size. SAMPLE "-": a plain 2.5 KB message (to warm Postfix up)
"""
import json
import re
import secrets
import signal
import smtplib
import subprocess
import time

from benchlib import cpu_ms, die, hidden, opener, queue_left, request, ro, run_command
from benchlib import status_json

SENDER = "bounces@lists.test"


def member(i):
    return f"m{i:04d}@members.test"


def roster(n, path):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write(f"Member {i:04d} <{member(i)}>\n")


def qwait(qdir, timeout):
    deadline = time.time() + timeout
    while True:
        left = queue_left(qdir)
        if left == 0:
            return
        if time.time() > deadline:
            die(f"Postfix still holds {left} messages after {timeout} s")
        time.sleep(0.1)


def status_counts(bin_, db, config):
    return status_json(bin_, db, config, 30)["outbox"]


TEXT = """Dear all,

Our practice has been trialling a shared rota for the winter clinics, and a few of you asked how
it works in practice. In short: every clinician picks two half-days a month, the reception team
keeps the list, and swaps go through the same spreadsheet so nobody is double-booked.

The first month went better than we feared. Waiting times for the respiratory clinic fell by a
third, and the nurses say the handovers are calmer. The weak spot is cover for sudden absence:
we still rely on goodwill there, and I would welcome ideas from practices that solved it.

I have put the template and our notes on the practice wiki; happy to send them to anyone who
wants to try the same. Replies on the list or on the forum both reach me.

Best wishes,
Alice
"""


def fanout(base, session, bin_, db, config, n, out, wrk_cmds):
    _, op = opener(session)
    status, _, page = request(op, base + "/l/snug/new", timeout=120)
    csrf = hidden(page, "csrf") if status == 200 else None
    if not csrf:
        die(f"GET /l/snug/new answered {status} without a csrf field")
    before = status_counts(bin_, db, config)
    if before["sent"] or before["queued"] or before["sending"]:
        die(f"the outbox is not empty before the post: {before}")
    form = {"csrf": csrf, "subject": "Winter clinic rota: how we share it",
            "text": TEXT, "action": "post"}
    t0 = time.time()
    status, headers, body = request(op, base + "/l/snug/new", form, timeout=120)
    t_post = time.time()
    location = headers.get("Location", "") if headers else ""
    if status != 303 or not location.startswith("/m/"):
        die(f"POST /l/snug/new answered {status} (Location {location!r}): {body[:300]}")
    # The permalink redirects to the thread page: /t/N#m-K.
    status, headers, _ = request(op, base + location, timeout=120)
    target = headers.get("Location", "") if headers else ""
    m = re.match(r"/t/(\d+)", target)
    if status not in (301, 302, 303, 307, 308) or not m:
        die(f"GET {location} answered {status} (Location {target!r})")
    thread = m.group(1)
    procs = []
    for i, cmd in enumerate(wrk_cmds):
        cmd = [a.replace("{thread}", thread) for a in cmd]
        log = open(f"{out}.wrk{i}", "w")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    t_wrk = time.time()
    last, polls, counts = None, 0, {}
    try:
        while True:
            counts = status_counts(bin_, db, config)
            polls += 1
            if counts["failed"]:
                die(f"{counts['failed']} copies failed: {counts}")
            if counts["sent"] >= n:
                break
            if counts["sent"] != last:
                last, t_progress = counts["sent"], time.time()
            elif time.time() - t_progress > 60:
                die(f"no progress for 60 s: {counts}")
            time.sleep(0.1)
    finally:
        t_done = time.time()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    # The size of the post as queued (each copy adds its Reply-To line), read-only.
    with ro(db) as conn:
        size = conn.execute("SELECT max(size) FROM outbox WHERE kind = 'copy'").fetchone()[0]
    with open(out, "w") as f:
        json.dump({
            "queued_bytes": size,
            "thread": thread, "location": location, "seconds": t_done - t0,
            "post_ms": (t_post - t0) * 1000, "readers_seconds": t_done - t_wrk,
            "readers_from": t_wrk - t0, "polls": polls, "counts": counts,
            "wrk_rc": [p.returncode for p in procs],
        }, f)


def sample(base, thread, path, session):
    _, op = opener(session)
    with op.open(f"{base}/t/{thread}/mbox", timeout=30) as r:
        mbox = r.read()
    lines = mbox.split(b"\n")
    if not lines[0].startswith(b"From "):
        die("the thread's mbox does not start with a From line")
    body = []
    for line in lines[1:]:
        if line.startswith(b"From "):
            break  # one message only: the post itself
        body.append(re.sub(rb"^>(>*From )", rb"\1", line))
    msg = b"\r\n".join(x.rstrip(b"\r") for x in body).rstrip(b"\r\n") + b"\r\n"
    with open(path, "wb") as f:
        f.write(msg)


def baseline(host, port, n, path):
    if path == "-":  # Postfix's warm-up: any message of about the size
        msg = b"From: Bench <forum@lists.test>\r\nSubject: warm-up\r\n\r\n" + b"x" * 70 * 35 + b"\r\n"
    else:
        with open(path, "rb") as f:
            msg = f.read()
    # Each copy gets its own Reply-To (reply+KEY, a 26-letter key), as listbridge's do.
    copies = [
        b"Reply-To: <reply+" + secrets.token_hex(13).encode() + b"@lists.test>\r\n" + msg
        for _ in range(n)
    ]
    s = smtplib.SMTP(host, port, timeout=60)
    s.ehlo()
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        refused = s.sendmail(SENDER, [member(i)], copies[i - 1])
        if refused:
            die(f"refused: {refused}")
    secs = time.perf_counter() - t0
    s.quit()
    print(f"{secs:.3f} {len(copies[0])}")


def fanout_command(rest):
    """The fanout arguments: seven fixed ones, then commands each after a "--"."""
    fixed, cmds = rest[:7], []
    for a in rest[7:]:
        if a == "--":
            cmds.append([])
        else:
            cmds[-1].append(a)
    base, session, bin_, db, config, n, out = fixed
    fanout(base, session, bin_, db, config, int(n), out, [c for c in cmds if c])


def main():
    run_command(
        {
            "roster": lambda a: roster(int(a[0]), a[1]),
            "qwait": lambda a: qwait(a[0], float(a[1])),
            "cpums": lambda a: print(cpu_ms(a, reaped=True)),
            "fanout": fanout_command,
            "sample": lambda a: sample(a[0], a[1], a[2], a[3]),
            "baseline": lambda a: baseline(a[0], int(a[1]), int(a[2]), a[3]),
        }
    )


if __name__ == "__main__":
    main()
