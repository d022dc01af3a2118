#!/usr/bin/env python3
"""Helpers of bench/load.sh (standard library only).

  load_helper.py freeport
      a free loopback TCP port
  load_helper.py signin BASE LINK
      sign in with a one-time link as a browser does; print the lb_session cookie's value
  load_helper.py threads DB N
      the N threads with the most messages, one id a line
  load_helper.py readlua OUT PAUSE_MS PATH...
      a wrk script rotating over PATHs, each connection pausing PAUSE_MS between requests
  load_helper.py posters BASE SECONDS EVERY OUT.tsv THREADS SESSION...
      one poster per SESSION, each replying on the web to one of THREADS (comma separated)
      every EVERY seconds for SECONDS: GET /t/ID/reply (csrf, parent), POST action=post;
      one line per attempt: time poster thread status ms message_id
  load_helper.py mailer HOST PORT RATE SECONDS LIST_ADDRESS RUN OUT.tsv
      RATE mails a second for SECONDS to LIST_ADDRESS over SMTP (one reused connection),
      about 60% replying to earlier ones; one line per mail accepted: message_id parent_id;
      failed attempts go to OUT.tsv.err
  load_helper.py sampler PID SECONDS EVERY BASE OUT.tsv PATH...
      every EVERY seconds until SECONDS: PID's VmRSS (kB) and one GET of each PATH, so that
      a failing page is named: t rss_kb then path=status:ms for each
  load_helper.py settle BIN DB CONFIG QUEUE_DIR MAILDIR SENT.tsv POSTS.tsv TIMEOUT
      wait until Postfix's queue is empty, the outbox has nothing queued or sending, the IMAP
      source's last UID has reached the mailbox's message count and every recorded
      Message-ID is archived (or TIMEOUT); print what it waited for
  load_helper.py check DB SENT.tsv POSTS.tsv RSS.tsv STATUS.json OUT.json
      the acceptance figures as JSON (see bench/load.sh)
"""
import json
import os
import random
import smtplib
import textwrap
import threading
import time
import urllib.parse
from email.utils import format_datetime, localtime

from benchlib import (hidden, opener, queue_left, request, ro, run_command, status_json,
                      status_kb, wrk_rotation)


def threads(db, n):
    with ro(db, timeout=30) as c:
        for (tid,) in c.execute(
                "SELECT id FROM threads ORDER BY message_count DESC, id LIMIT ?", (n,)):
            print(tid)


def readlua(out, pause, paths):
    with open(out, "w") as f:
        f.write(wrk_rotation(paths))
        f.write(f"local pause = {int(pause)}\n")
        f.write("""if pause > 0 then
  delay = function() return pause end
end
-- WRKRESULT requests duration_us p50_us p90_us p99_us max_us connect read write timeout non_2xx_3xx
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
""")


# --- realistic small texts -----------------------------------------------------------------

OPENINGS = [
    "Thanks for raising this.", "We had the same problem last winter.",
    "A quick note from our practice.", "I can only speak for our surgery, but",
    "Good question, and one we keep coming back to.", "Sorry to be late to this thread.",
    "Agree with most of the above.", "Just to add a different view:",
]
MIDDLES = [
    "the inhaler technique checks work best when the nurse sees the patient twice",
    "our pharmacist now reviews the rescue packs before each flu clinic",
    "the locum agency changed its rates again without telling anyone",
    "dermatology photo triage saved us a lot of routine referrals",
    "the referral letter template needs a section on current medication",
    "vitamin D dosing questions come up at every cafe meeting",
    "travel vaccines are still the most confusing part of the contract",
    "Saturday staffing for the flu clinic is easier with a shared rota",
    "asthma reviews for the over-eighties take longer than the template allows",
    "the walk-in X-ray sites publish their Sunday hours on the health board page",
    "COPD patients like having the plan written on one sheet",
    "spacer devices make a real difference for the older patients",
]
CLOSINGS = [
    "Happy to share our notes if useful.", "Would welcome other views.",
    "Does anyone have a better approach?", "Let us discuss it at the next meeting.",
    "More once we have the audit results.", "Hope that helps.",
]
NAMES = ["Alice Brown", "Bilal Khan", "Carys Evans", "Dmitri Volkov", "Eilidh Ross",
         "Fatima Noor", "Gareth Jones", "Hannah Lee", "Iwan Price", "Joanna Nowak"]
TOPICS = ["Inhaler technique", "Rescue packs", "Locum rates", "Photo triage",
          "Referral template", "Vitamin D", "Travel vaccines", "Flu clinic rota",
          "Asthma reviews", "Sunday X-ray", "COPD plans", "Spacer devices"]


def paragraph(rng):
    return textwrap.fill(" ".join([rng.choice(OPENINGS), rng.choice(MIDDLES) + ",",
                                   "and " + rng.choice(MIDDLES) + ".", rng.choice(CLOSINGS)]), 72)


def letters(n):
    """n in letters: markers and subjects carry no digit runs the NHS-number screen could hold."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = chr(ord("a") + r) + out
        if n == 0:
            return out


def text(rng, marker):
    paras = [paragraph(rng) for _ in range(rng.randint(1, 3))]
    return "\n\n".join(paras) + f"\n\n(ref {marker})\n"


# --- web posters ---------------------------------------------------------------------------

def posters(base, seconds, every, out, thread_list, sessions):
    lock = threading.Lock()
    t_end = time.time() + seconds
    thread_ids = thread_list.split(",")
    f = open(out, "w")

    def write(*fields):
        with lock:
            f.write("\t".join(str(x) for x in fields) + "\n")
            f.flush()

    def run(n, session):
        rng = random.Random(n)
        _, op = opener(session)
        # Spread the posters over the interval: one post every EVERY/POSTERS seconds overall.
        next_at = time.time() + every * n / len(sessions)
        k = 0
        while True:
            time.sleep(max(0.0, min(next_at, t_end) - time.time()))
            if time.time() >= t_end:
                return
            next_at += every
            k += 1
            tid = thread_ids[(n + k) % len(thread_ids)]
            t0 = time.time()
            status, _, page = request(op, f"{base}/t/{tid}/reply")
            csrf = hidden(page, "csrf") if status == 200 else None
            parent = hidden(page, "parent") if status == 200 else None
            if not csrf or parent is None:
                write(f"{t0:.3f}", n, tid, f"form-{status}", int((time.time() - t0) * 1000), "-")
                continue
            form = {"csrf": csrf, "parent": parent, "action": "post",
                    "text": text(rng, f"web {letters(n)} {letters(k)}")}
            status, headers, _ = request(op, f"{base}/t/{tid}/reply", form)
            ms = int((time.time() - t0) * 1000)
            location = headers.get("Location", "") if headers else ""
            mid = "-"
            if status == 303 and location.startswith("/m/"):
                mid = urllib.parse.unquote(location[3:])
            write(f"{t0:.3f}", n, tid, status, ms, mid)

    workers = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(sessions)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    f.close()


# --- mail through Postfix ------------------------------------------------------------------

def mailer(host, port, rate, seconds, list_address, run, out):
    rng = random.Random(run)
    sent = []  # (message_id, subject, references)
    f = open(out, "w")
    ferr = open(out + ".err", "w")
    s = None
    t0 = time.time()
    n, behind_max = 0, 0.0
    while True:
        due = t0 + n / rate
        now = time.time()
        if due >= t0 + seconds:
            break
        if due > now:
            time.sleep(due - now)
        else:
            behind_max = max(behind_max, now - due)
        n += 1
        mid = f"load-{run}-{n:06d}@members.test"
        name = rng.choice(NAMES)
        addr = name.split()[0].lower() + "@members.test"
        headers = [f"From: {name} <{addr}>", f"To: SNUG <{list_address}>",
                   f"Date: {format_datetime(localtime())}", f"Message-ID: <{mid}>"]
        parent = None
        if sent and rng.random() < 0.6:
            parent = rng.choice(sent[-200:])  # recent threads stay busy
            pid, psubject, prefs = parent
            refs = (prefs + [pid])[-10:]
            subject = psubject if psubject.startswith("Re: ") else "Re: " + psubject
            headers += [f"Subject: {subject}", f"In-Reply-To: <{pid}>",
                        "References: " + " ".join(f"<{r}>" for r in refs)]
            quote = "".join("> " + line + "\n" for line in paragraph(rng).split("\n"))
            body = text(rng, f"{run} {letters(n)}") + f"\n{name.split()[0]} wrote:\n" + quote
        else:
            refs = []
            subject = f"[SNUG] {rng.choice(TOPICS)}: question {run} {letters(n)}"
            headers.append(f"Subject: {subject}")
            body = text(rng, f"{run} {letters(n)}")
        headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                    "Content-Transfer-Encoding: 8bit"]
        msg = ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()
        for attempt in range(5):
            try:
                if s is None:
                    s = smtplib.SMTP(host, port, timeout=60)
                    s.ehlo()
                refused = s.sendmail(f"bounces@{list_address.split('@')[1]}", [list_address], msg)
                if refused:
                    raise smtplib.SMTPException(f"refused {refused}")
                break
            except (smtplib.SMTPException, OSError) as e:
                ferr.write(f"{time.time():.3f}\t{mid}\tattempt {attempt + 1}\t{e!r}\n")
                ferr.flush()
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                time.sleep(1)
        else:
            continue  # never accepted: not recorded as sent
        sent.append((mid, subject, refs))
        f.write(f"{mid}\t{parent[0] if parent else '-'}\n")
        if n % 100 == 0:
            f.flush()
    if s is not None:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    f.close()
    secs = time.time() - t0
    print(f"{len(sent)} {n} {secs:.1f} {behind_max:.2f}")


# --- memory and per-page probes ------------------------------------------------------------

def sampler(pid, seconds, every, base, out, paths):
    _, op = opener()
    t0 = time.time()
    k = 0
    with open(out, "w") as f:
        while True:
            at = t0 + k * every
            if at > t0 + seconds + 0.5:
                break
            time.sleep(max(0.0, at - time.time()))
            try:
                rss = status_kb(pid)
            except OSError:
                f.write(f"{time.time() - t0:.0f}\tgone\n")
                return
            probes = []
            for p in paths:
                t = time.time()
                status, _, _ = request(op, base + p, timeout=30)
                probes.append(f"{p}={status}:{(time.time() - t) * 1000:.0f}")
            f.write(f"{at - t0:.0f}\t{rss}\t" + "\t".join(probes) + "\n")
            f.flush()
            k += 1


# --- after the load ------------------------------------------------------------------------

def maildir_count(maildir):
    return sum(len(os.listdir(os.path.join(maildir, sub))) for sub in ("new", "cur")
               if os.path.isdir(os.path.join(maildir, sub)))


def recorded_ids(sent, posts):
    ids = [line.split("\t")[0] for line in open(sent) if line.strip()]
    ids += [line.rstrip("\n").split("\t")[5] for line in open(posts) if line.strip()]
    return [i for i in ids if i != "-"]


def archived(db, ids):
    with ro(db, timeout=30) as c:
        c.execute("CREATE TEMP TABLE want(id TEXT PRIMARY KEY)")
        c.executemany("INSERT OR IGNORE INTO want VALUES (?)", ((i,) for i in ids))
        return c.execute("SELECT count(*) FROM messages JOIN want ON want.id = messages.message_id"
                         ).fetchone()[0]


def settle(bin_, db, config, qdir, maildir, sent, posts, timeout):
    ids = recorded_ids(sent, posts)
    t0 = time.time()
    while True:
        st = status_json(bin_, db, config, 60)
        ob = st["outbox"]
        last_uid = max([s.get("last_uid") or 0 for s in st["sources"]] or [0])
        state = {"postfix_queue": queue_left(qdir), "outbox_waiting": ob["queued"] + ob["sending"],
                 "mailbox": maildir_count(maildir), "last_uid": last_uid,
                 "archived": archived(db, ids), "recorded": len(ids)}
        done = (state["postfix_queue"] == 0 and state["outbox_waiting"] == 0
                and last_uid >= state["mailbox"] and state["archived"] == len(ids))
        if done or time.time() - t0 > timeout:
            state["seconds"] = round(time.time() - t0, 1)
            state["settled"] = done
            print(json.dumps(state))
            return
        time.sleep(2)


def check(db, sent, posts, rss, status, out):
    smtp = [line.rstrip("\n").split("\t") for line in open(sent) if line.strip()]
    web = [line.rstrip("\n").split("\t") for line in open(posts) if line.strip()]
    r = {}
    with ro(db, timeout=30) as c:
        def rows(q, args=()):
            return c.execute(q, args).fetchall()

        c.execute("CREATE TEMP TABLE want(id TEXT PRIMARY KEY, parent TEXT, kind TEXT)")
        c.executemany("INSERT OR IGNORE INTO want VALUES (?, ?, 'smtp')",
                      ((m, p if p != "-" else None) for m, p in smtp))
        c.executemany("INSERT OR IGNORE INTO want VALUES (?, NULL, 'web')",
                      ((w[5],) for w in web if w[5] != "-"))
        for kind in ("smtp", "web"):
            wanted = rows("SELECT count(*) FROM want WHERE kind = ?", (kind,))[0][0]
            found = rows("SELECT count(*) FROM want JOIN messages m ON m.message_id = want.id "
                         "WHERE kind = ?", (kind,))[0][0]
            # A second, different message under one Message-ID is kept as <id>.dup-<hash>.
            dups = rows("SELECT count(*) FROM want JOIN messages m ON m.message_id "
                        "LIKE want.id || '.dup-%' WHERE kind = ?", (kind,))[0][0]
            copies = rows("SELECT count(*) FROM want JOIN messages m ON m.message_id = want.id "
                          "JOIN message_copies mc ON mc.message = m.id WHERE kind = ?",
                          (kind,))[0][0]
            missing = [x[0] for x in rows(
                "SELECT id FROM want WHERE kind = ? AND id NOT IN (SELECT message_id FROM messages)"
                " LIMIT 10", (kind,))]
            r[kind] = {"recorded": wanted, "archived": found, "doubled": dups,
                       "raw_copies": copies, "missing_examples": missing}
        # Threading: each reply in its parent's thread; each new topic its own thread.
        r["smtp"]["thread_mismatch"] = rows(
            "SELECT count(*) FROM want w JOIN messages m ON m.message_id = w.id "
            "JOIN messages p ON p.message_id = w.parent WHERE m.thread_id != p.thread_id")[0][0]
        roots = rows("SELECT count(*), count(DISTINCT m.thread_id) FROM want w JOIN messages m "
                     "ON m.message_id = w.id WHERE w.kind = 'smtp' AND w.parent IS NULL")[0]
        r["smtp"]["roots"], r["smtp"]["root_threads"] = roots
        # Web posts: delivered = the list's copy came back through IMAP.
        r["web"]["delivered"] = rows(
            "SELECT count(*) FROM want w JOIN posts p ON p.message_id = w.id "
            "WHERE w.kind = 'web' AND p.delivered_at IS NOT NULL")[0][0]
        r["web"]["echo_lag_s"] = rows(
            "SELECT max(p.delivered_at - p.created), avg(p.delivered_at - p.created) FROM want w "
            "JOIN posts p ON p.message_id = w.id WHERE w.kind = 'web'")[0]
        r["outbox"] = dict(rows("SELECT state, count(*) FROM outbox_recipients GROUP BY state"))
        r["outbox_errors"] = [x[0] for x in rows(
            "SELECT DISTINCT last_error FROM outbox_recipients WHERE last_error IS NOT NULL "
            "LIMIT 5")]
        r["inbound_log"] = [list(x) for x in rows(
            "SELECT action, reason, count(*) FROM inbound_log GROUP BY action, reason")]
        r["messages_total"] = rows("SELECT count(*) FROM messages")[0][0]
    statuses = [w[3] for w in web]
    r["web"]["attempts"] = len(web)
    r["web"]["status"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    ms = sorted(int(w[4]) for w in web)
    r["web"]["ms_p50_max"] = [ms[len(ms) // 2], ms[-1]] if ms else [0, 0]
    # Memory: RSS every few seconds; probes of each read page alongside.
    series, probe_bad = [], []
    for line in open(rss):
        f = line.rstrip("\n").split("\t")
        if len(f) < 2 or f[1] == "gone":
            continue
        series.append((int(f[0]), int(f[1])))
        for p in f[2:]:
            path, _, rest = p.rpartition("=")
            code = rest.split(":")[0]
            if not code.startswith(("2", "3")):
                probe_bad.append(f"t={f[0]} {path} {code}")
    r["rss"] = series
    r["probe_errors"] = probe_bad
    st = json.load(open(status))
    r["status"] = st
    with open(out, "w") as f:
        json.dump(r, f, indent=1)


def main():
    run_command(
        {
            "threads": lambda a: threads(a[0], int(a[1])),
            "readlua": lambda a: readlua(a[0], a[1], a[2:]),
            "posters": lambda a: posters(a[0], float(a[1]), float(a[2]), a[3], a[4], a[5:]),
            "mailer": lambda a: mailer(a[0], int(a[1]), float(a[2]), float(a[3]), a[4], a[5], a[6]),
            "sampler": lambda a: sampler(int(a[0]), float(a[1]), float(a[2]), a[3], a[4], a[5:]),
            "settle": lambda a: settle(*a[:7], float(a[7])),
            "check": lambda a: check(*a[:6]),
        }
    )


if __name__ == "__main__":
    main()
