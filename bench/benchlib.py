#!/usr/bin/env python3
"""What the benchmark helpers share (standard library only): imported by bench/*_helper.py.

The web client (sign-in as a browser does, forms, no redirect following), read-only SQLite,
a wrk script's rotation over paths, free ports, process CPU time and memory, Postfix's queue, `listbridge status --json`, mbox
splitting and percentiles. Run as a script it offers one command of its own, for
bench/import.sh:

  benchlib.py maildir ARCHIVE.mbox.gz DEST
      the archive's messages as a Maildir (DEST/cur/0000000.bench:2,S ...); prints the count
"""
import gzip
import html
import http.cookiejar
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request


def die(msg):
    """Exit 1 with MSG on stderr, named after the helper that runs (load_helper: ...)."""
    print(f"{os.path.splitext(os.path.basename(sys.argv[0]))[0]}: {msg}", file=sys.stderr)
    sys.exit(1)


def run_command(commands):
    """Run the command named by the first argument: COMMANDS maps each name to a function of
    the arguments after it; freeport and signin are there for every helper."""
    args = sys.argv[1:]
    if not args:
        die("no command (see the top of this file)")
    cmd, rest = args[0], args[1:]
    commands = {
        "freeport": lambda a: freeport(),
        "signin": lambda a: signin(a[0], a[1]),
        **commands,
    }
    if cmd not in commands:
        die(f"unknown command {cmd}")
    commands[cmd](rest)


def freeport():
    """Print a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


# --- the web, as a browser ------------------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    """The 303s are checked, not followed: their Location is what we want."""

    def redirect_request(self, *args, **kwargs):
        return None


def opener(session=None):
    """(cookie jar, opener) that keeps cookies and follows no redirect; SESSION: lb_session."""
    jar = http.cookiejar.CookieJar()
    if session:
        jar.set_cookie(http.cookiejar.Cookie(
            0, "lb_session", session, None, False, "127.0.0.1", False, False, "/", True,
            False, None, False, None, None, {}))
    return jar, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def request(op, url, data=None, timeout=60):
    """(status, headers, body) without raising on 3xx/4xx/5xx; status 0 on a socket error."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with op.open(url, body, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as e:
        return 0, None, str(e)


def hidden(page, name):
    """The value of the form field NAME in PAGE, or None."""
    m = re.search(r'<input[^>]*name="%s"[^>]*value="([^"]*)"' % re.escape(name), page)
    if not m:
        m = re.search(r'<input[^>]*value="([^"]*)"[^>]*name="%s"' % re.escape(name), page)
    return html.unescape(m.group(1)) if m else None


def signin(base, link):
    """Sign in with a one-time link as a browser does; print the lb_session cookie's value."""
    jar, op = opener()
    path = urllib.parse.urlsplit(link).path
    status, _, page = request(op, base + path)
    token = hidden(page, "form_token") if status == 200 else None
    if not token:
        die(f"GET {path} answered {status} without a form_token")
    status, _, _ = request(op, base + path, {"form_token": token, "next": "/"})
    cookie = next((c.value for c in jar if c.name == "lb_session"), None)
    if status != 303 or not cookie:
        die(f"POST {path} answered {status} (cookie: {bool(cookie)})")
    print(cookie)


def wrk_rotation(paths):
    """The part of a wrk script that GETs PATHS in turn, each wrk thread starting at another."""
    return ("local paths = {\n" + "".join(f"  {json.dumps(p)},\n" for p in paths) + "}\n"
            + """local i = 0
init = function(args)
  -- each wrk thread starts at another path
  i = math.random(#paths) - 1
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
""")


# --- the database and the processes ---------------------------------------------------------

def ro(db, **kwargs):
    """A read-only connection to DB (sqlite3.connect's keyword arguments pass through)."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, **kwargs)


def status_json(bin_, db, config, timeout):
    """`listbridge status --json`, parsed."""
    out = subprocess.run([bin_, "--db", db, "--config", config, "status", "--json"],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        die(f"listbridge status failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def queue_left(qdir):
    """How many messages Postfix's queue (incoming, active, deferred, maildrop, hold) holds."""
    return sum(len(files) for sub in ("incoming", "active", "deferred", "maildrop", "hold")
               for _, _, files in os.walk(os.path.join(qdir, sub)))


def status_kb(pid, key="VmRSS"):
    """A figure of /proc/PID/status in kB (VmRSS: resident memory); 0 when absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_ms(pids, reaped=False):
    """CPU time (ms, user + system) of each PID and of its live children, summed. REAPED:
    with the children each PID has reaped (cutime, cstime)."""
    pids = {str(p) for p in pids}
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime (14th field overall) stime (15th), then
        # cutime cstime: the children it has reaped. Postfix's smtpd processes exit after
        # 100 connections; their time then moves to the master's cutime instead of vanishing.
        if entry in pids and reaped:
            total += sum(int(x) for x in fields[11:15])
        elif entry in pids or fields[1] in pids:
            total += int(fields[11]) + int(fields[12])
    return total * 1000 // hz


# --- mail ----------------------------------------------------------------------------------

def mbox_messages(path):
    """The messages of a gzipped mbox as bytes: From_ lines dropped, >From lines unescaped,
    the blank line before the next From_ line removed."""
    msg = []

    def body():
        b = b"".join(msg)
        return b[:-1] if b.endswith(b"\n\n") else b

    with gzip.open(path, "rb") as f:
        for line in f:
            if line.startswith(b"From "):
                if msg:
                    yield body()
                msg = []
                continue
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            msg.append(line)
    if msg:
        yield body()


def maildir(src, dest):
    """Write the messages of SRC (a gzipped mbox) as a Maildir at DEST; return their count."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    n = 0
    for msg in mbox_messages(src):
        with open(os.path.join(dest, "cur", f"{n:07d}.bench:2,S"), "wb") as f:
            f.write(msg)
        n += 1
    return n


# --- figures -------------------------------------------------------------------------------

def pct_interpolated(values, p):
    """The P-th percentile, interpolated between the two nearest values (NaN when empty)."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def pct_nearest(values, p):
    """The P-th percentile by nearest rank: one of the values."""
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "maildir":
        print(maildir(sys.argv[2], sys.argv[3]))
    else:
        die(__doc__)
