#!/usr/bin/env python3
"""A large archive for the benchmarks, made from the shared archives (standard library only).

  make-large-archive.py OUT.mbox.gz [--messages N] [--corpora DIR]

Writes one gzipped mboxrd of at least N distinct messages (default 84,000): linux-man, then
linux-audit, then the r-sig-finance pipermail quarters in order, repeated as many times as
needed, the last repeat cut where the count is reached. Repeat C (from 2 on) is a distinct copy:
every id in its Message-ID, In-Reply-To and References headers gets `.cC` after its local part
(`<abc@x>` becomes `<abc.c2@x>`), so a copy's threads stay threads of their own and no message
of a copy duplicates one of another. Copies of a message without a Message-ID would be the same
bytes again, so repeats leave those out. Everything else is as read: the mboxrd archives'
messages keep their bytes and escaping; pipermail messages (whose body `From ` lines are not
escaped) keep their envelope line and get mboxrd's one extra `>` on `^>*From ` lines, which an
mboxrd reader takes off again. The same inputs give the same bytes (no time in the gzip header).
Prints the message count, the distinct Message-IDs and the size.
"""

import argparse
import gzip
import os
import re
import sys
import time

MBOXRD_SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"

# A pipermail message starts at `From <sender> <asctime>` followed by a header line (the body's
# `From ` lines are not escaped, so the header line after it is what tells them apart).
PIPERMAIL_SEPARATOR = re.compile(
    rb"^From [^\n]*?[ \t]+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[ \t]+"
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ \t]+\d{1,2}[ \t]+"
    rb"\d{1,2}:\d\d:\d\d[ \t]+\d{4}[ \t]*\r?\n(?=[\x21-\x39\x3b-\x7e]+[ \t]*:)",
    re.M,
)
# The id headers, with their folded continuation lines.
ID_HEADER = re.compile(
    rb"^(?:message-id|in-reply-to|references)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*", re.M | re.I
)
ANGLE_ID = re.compile(rb"<([^<>@\s]*)((?:@[^<>\s]*)?)>")
MESSAGE_ID = re.compile(rb"^message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]*>)", re.M | re.I)
ESCAPE_FROM = re.compile(rb"^(>*From )", re.M)


def header_end(msg):
    """Where the header ends (its blank line), or the whole message."""
    i = msg.find(b"\n\n")
    j = msg.find(b"\n\r\n")
    ends = [e for e in (i, j) if e >= 0]
    return min(ends) + 1 if ends else len(msg)


def mboxrd_messages(path):
    """(envelope line, message) of a public-inbox mboxrd export: every message follows the
    same separator, ends with a newline and is followed by one empty line; the message is
    kept escaped, as it will be written again."""
    with gzip.open(path) as f:
        data = f.read()
    if not data.startswith(MBOXRD_SEPARATOR):
        sys.exit(f"{path}: does not start with {MBOXRD_SEPARATOR!r}")
    body = data[len(MBOXRD_SEPARATOR):]
    if body.endswith(b"\n\n"):
        body = body[:-1]
    for piece in body.split(b"\n\n" + MBOXRD_SEPARATOR):
        yield MBOXRD_SEPARATOR, piece if piece.endswith(b"\n") else piece + b"\n"


def pipermail_messages(path):
    """(envelope line, message) of a Mailman 2 pipermail file, the message escaped as mboxrd.
    The blank line before a separator belongs to the format, as an mbox reader sees it."""
    with gzip.open(path) as f:
        data = f.read()
    starts = list(PIPERMAIL_SEPARATOR.finditer(data))
    for n, m in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(data)
        msg = data[m.end():end]
        for blank in (b"\n\r\n", b"\n\n"):
            if msg.endswith(blank):
                msg = msg[: -len(blank) + 1]
                break
        if not msg.endswith(b"\n"):
            msg += b"\n"
        yield m.group(0), ESCAPE_FROM.sub(rb">\1", msg)


def sources(corpora):
    archives = os.path.join(corpora, "archives")
    out = []
    for name in ("linux-man.mbox.gz", "linux-audit.mbox.gz"):
        out.extend(mboxrd_messages(os.path.join(archives, name)))
    finance = os.path.join(archives, "pipermail", "r-sig-finance")
    for name in sorted(os.listdir(finance)):
        if name.endswith(".txt.gz"):
            out.extend(pipermail_messages(os.path.join(finance, name)))
    return out


def message_id(msg):
    m = MESSAGE_ID.search(msg, 0, header_end(msg))
    return m.group(1).lower() if m else None


def copied(msg, copy):
    """MSG with every id of its id headers marked as copy COPY."""
    end = header_end(msg)
    mark = b".c%d" % copy

    def ids(h):
        return ANGLE_ID.sub(lambda m: b"<" + m.group(1) + mark + m.group(2) + b">", h.group(0))

    return ID_HEADER.sub(ids, msg[:end]) + msg[end:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, default=84000)
    ap.add_argument(
        "--corpora",
        default=os.environ.get("LISTBRIDGE_CORPORA")
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "corpora"),
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    messages = [(env, msg, message_id(msg)) for env, msg in sources(args.corpora)]
    distinct = set()
    written = 0
    raw = 0
    copy = 1
    with open(args.out, "wb") as f, gzip.GzipFile(
        filename="", mode="wb", fileobj=f, compresslevel=1, mtime=0
    ) as z:
        while len(distinct) < args.messages:
            if copy > 1 and not any(mid for _, _, mid in messages):
                sys.exit("no message has a Message-ID: copies would repeat the same mail")
            for env, msg, mid in messages:
                if len(distinct) >= args.messages:
                    break
                if copy > 1:
                    if mid is None:
                        continue
                    msg = copied(msg, copy)
                piece = env + msg + b"\n"
                z.write(piece)
                raw += len(piece)
                written += 1
                # A copy's ids are the original's marked with the copy's number.
                distinct.add((copy, mid) if mid is not None else written)
            copy += 1
    print(
        f"{written} messages ({len(distinct)} distinct), {copy - 1} copies, "
        f"{raw / 1e6:.0f} MB raw, {os.path.getsize(args.out) / 1e6:.0f} MB gz, "
        f"{time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
