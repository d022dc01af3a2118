#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds from the outside corpora and the project's fixtures.
# Usage (from the repository root or from fuzz/):  fuzz/seed.sh
# LISTBRIDGE_CORPORA overrides the corpora folder (default: ../shared/corpora beside the repo).
# MBOX_SEEDS (default 80) is how many messages are split out of each mbox used.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpora=${LISTBRIDGE_CORPORA:-$root/../shared/corpora}
per_mbox=${MBOX_SEEDS:-80}
out=$here/corpus
max_mail=$((256 * 1024))

if [ ! -d "$corpora" ]; then
    echo "seed.sh: no corpora at $corpora (set LISTBRIDGE_CORPORA)" >&2
    exit 1
fi
mkdir -p "$out/mail_parse" "$out/render_markup" "$out/threading" "$out/search_query" \
    "$out/moderation_reply"

# Copies file $2 to folder $1 under a name made from its path (no collisions, re-runs idempotent).
put() {
    name=$(printf '%s' "$2" | sed 's|^.*/shared/corpora/||; s|^'"$root"'/||; s|[^A-Za-z0-9._-]|_|g')
    cp "$2" "$1/$name"
}

# Splits an mbox (stdin) into at most ${3:-$per_mbox} messages in folder $1, prefix $2; the
# "From " separator line is dropped, messages over 256 KiB are skipped.
split_mbox() {
    awk -v dir="$1" -v prefix="$2" -v max="${3:-$per_mbox}" -v maxlen="$max_mail" '
        function flush() {
            if (n > 0 && length(buf) > 0 && length(buf) <= maxlen) {
                file = sprintf("%s/%s-%04d.eml", dir, prefix, n)
                printf "%s", buf > file
                close(file)
            }
            buf = ""
        }
        /^From / { flush(); n++; if (n > max) exit; next }
        n > 0 { buf = buf $0 "\n" }
        END { if (n <= max) flush() }
    '
}

# --- mail_parse: single messages and messages split out of mboxes -------------------------
find "$corpora/mime" -name '*.eml' | while read -r f; do put "$out/mail_parse" "$f"; done
for f in "$root"/fixtures/events/*.eml "$root"/fixtures/archives/single/*.eml; do
    put "$out/mail_parse" "$f"
done
find "$root/fixtures/archives/maildir" "$corpora/threading/notmuch/default" \
    "$corpora/threading/notmuch/threading" "$corpora/threading/notmuch/broken" -type f \
    ! -name '*.md' ! -name 'COPYING*' | while read -r f; do put "$out/mail_parse" "$f"; done
zcat "$corpora/archives/linux-audit.mbox.gz" | split_mbox "$out/mail_parse" linux-audit
zcat "$corpora/archives/linux-man.mbox.gz" | split_mbox "$out/mail_parse" linux-man
for q in 2004q2 2015q1 2025q1; do
    if [ -f "$corpora/archives/pipermail/r-sig-finance/$q.txt.gz" ]; then
        zcat "$corpora/archives/pipermail/r-sig-finance/$q.txt.gz" \
            | split_mbox "$out/mail_parse" "r-sig-finance-$q" 20
    fi
done
split_mbox "$out/mail_parse" snug < "$root/fixtures/sample/snug-2024.mbox"
split_mbox "$out/mail_parse" clinic < "$root/fixtures/archives/mbox/clinic-mboxrd.mbox"

# --- render_markup: plain-text bodies (trim fixtures) and hostile markup ------------------
for d in emails embedded; do
    for f in "$corpora/trim/email_reply_trimmer/$d"/*; do put "$out/render_markup" "$f"; done
done
for f in "$root"/fixtures/xss/*.txt; do put "$out/render_markup" "$f"; done
i=0
while IFS= read -r line; do
    i=$((i + 1))
    [ -n "$line" ] && printf '%s\n' "$line" > "$out/render_markup/xss-line-$i.txt"
done < "$root/fixtures/xss/vectors.txt"
printf '**bold** _em_ ~~gone~~ `code`\n\n> quoted\n> more\n\n- a\n- b\n\n[x](javascript:alert(1))\n![i](http://e.test/i.png)\n' \
    > "$out/render_markup/markup-basic.txt"
printf 'Passage one\r\nline two\r\n\0A. Writer <a@b.test>' > "$out/render_markup/quote-author.txt"

# --- threading: header lines of the notmuch sets, one message per line --------------------
# Line format read by fuzz_targets/threading.rs:  ID REF... ^IN-REPLY-TO ~FALLBACK @DATE
to_lines() {
    for f in "$@"; do
        awk '
            BEGIN { IGNORECASE = 1 }
            /^$/ { exit }
            /^[ \t]/ { if (cur != "") val[cur] = val[cur] " " $0; next }
            { cur = ""; split($0, kv, ":"); h = tolower(kv[1]) }
            h == "message-id" || h == "references" || h == "in-reply-to" {
                cur = h; v = $0; sub(/^[^:]*:[ \t]*/, "", v); val[cur] = v; next
            }
            END {
                id = val["message-id"]; gsub(/[<>]/, "", id); gsub(/[ \t]/, "", id)
                refs = val["references"]; gsub(/[<>]/, " ", refs)
                irt = val["in-reply-to"]; gsub(/[<>]/, "", irt); gsub(/[ \t]/, "", irt)
                line = id " " refs
                if (irt != "") line = line " ^" irt
                gsub(/[ \t]+/, " ", line)
                print line " @" NR
            }' "$f"
    done
}
n=$(find "$corpora/threading/notmuch" -type f ! -name '*.md' ! -name 'COPYING*' \
    ! -path '*/expected*' | wc -l)
find "$corpora/threading/notmuch" -type f ! -name '*.md' ! -name 'COPYING*' \
    ! -path '*/expected*' | sort | while read -r f; do put "$out/threading" "$f"; done
for set in default threading/ghost-root threading/parent-priority broken/loop; do
    # shellcheck disable=SC2046
    to_lines $(find "$corpora/threading/notmuch/$set" -type f | sort) \
        > "$out/threading/lines-$(printf '%s' "$set" | tr / -).txt"
done
printf 'a b ^b @1\nb a ^a @2\nc c ^c @3\nd a b c @4\nd @5\ne ~a @0\n' > "$out/threading/lines-cycles.txt"
printf 'm1 @1\nm2 m1 @2\nm3 m1 m2 @3\nm4 m1 m2 m3 @4\nm5 m1 m2 m3 m4 @5\nm6 m5 ^m5 @-9223372036854775808\nm7 m6 @9223372036854775807\n' \
    > "$out/threading/lines-chain.txt"
echo "threading: $n corpus files plus line seeds"

# --- search_query: query strings, SQL and FTS5 syntax included ----------------------------
q=0
for s in 'bond' 'yield curve' '"exact phrase"' "' OR 1=1 --" '" OR 1=1 --' 'NEAR(' 'NEAR(a b, 2)' \
    '"unterminated' '*' 'a*' '*a' 'a AND' 'AND' 'OR OR' 'NOT x' 'a NOT' '(a OR b' 'a OR b)' \
    'subject:x' 'from:alice' 'body:"x y"' '^start' 'x:' ':' '-' '-x' '+x' "'; DROP TABLE messages; --" \
    'a"b' '""' "''" '\' '{a b}' '[a]' 'col:a OR col:b' 'a.b@example.org' '<id@example.org>' \
    'Grüße' '東京' 'ß ẞ' '%' '_' 'a%b' 'x NEAR/3 y' 'rowid:1' 'messages_fts:x' 'MATCH' \
    '0x00' 'SELECT * FROM messages' 'a -b' 'tag:events' 'list:main' 'before:2024' 'after:2024-01-01'; do
    q=$((q + 1))
    printf '%s' "$s" > "$out/search_query/query-$q.txt"
done
printf 'a\0b' > "$out/search_query/query-nul.txt"

# --- moderation_reply: a moderator's answers, and first words that change length lowercased --
r=0
for s in 'Approve' 'approved, thanks' 'reject: please send it without the number' 'Rejected' \
    'no.' 'YES' 'publish' '  - no' 'What is this?' 'İ' 'İx: no' 'ẞ reject' 'K: yes' 'Å' \
    'Reject: Grüße ẞ İ' 'Σ' 'ǅ' '東京'; do
    r=$((r + 1))
    printf '%s' "$s" > "$out/moderation_reply/reply-$r.txt"
done

for t in mail_parse render_markup threading search_query moderation_reply; do
    echo "$t: $(find "$out/$t" -type f | wc -l) seeds"
done
