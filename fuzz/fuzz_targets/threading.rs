//! Fuzzes the threader (`thread::arrange`, `thread::group`) with messages made from input
//! lines, so cycles, self-references, duplicate ids, ghosts and deep chains all occur; also
//! `ids::parse_message_id` (and the References/In-Reply-To parsers) on every token.
//!
//! Line format: `ID REF... ^IN-REPLY-TO ~FALLBACK @DATE`; short ids make collisions likely.
#![no_main]

use libfuzzer_sys::fuzz_target;
use listbridge::mail::ids::{parse_in_reply_to, parse_message_id, parse_references};
use listbridge::thread::{ThreadMessage, arrange, group};

struct Line<'a> {
    id: &'a str,
    references: Vec<String>,
    in_reply_to: Option<&'a str>,
    fallback: Option<&'a str>,
    date: i64,
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_references(&text);
    let _ = parse_in_reply_to(&text);
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate().take(4096) {
        let _ = parse_message_id(line);
        let mut tokens = line.split_whitespace();
        let Some(id) = tokens.next() else { continue };
        let mut parsed = Line {
            id,
            references: Vec::new(),
            in_reply_to: None,
            fallback: None,
            date: n as i64,
        };
        for token in tokens {
            let _ = parse_message_id(token);
            if let Some(t) = token.strip_prefix('^') {
                parsed.in_reply_to = Some(t);
            } else if let Some(t) = token.strip_prefix('~') {
                parsed.fallback = Some(t);
            } else if let Some(d) = token.strip_prefix('@').and_then(|d| d.parse().ok()) {
                parsed.date = d;
            } else {
                parsed.references.push(token.to_owned());
            }
        }
        lines.push(parsed);
    }
    let messages: Vec<ThreadMessage> = lines
        .iter()
        .map(|l| ThreadMessage {
            id: l.id,
            references: &l.references,
            in_reply_to: l.in_reply_to,
            fallback_parent: l.fallback,
            date: l.date,
        })
        .collect();
    let placements = arrange(&messages);
    let groups = group(&messages);
    assert_eq!(
        placements.len(),
        messages.len(),
        "one placement per message"
    );
    assert_eq!(groups.len(), messages.len(), "one group per message");
    // A preorder of a forest: every message once, each parent before its children, one level
    // deeper than its parent.
    let mut depth_of = vec![None; messages.len()];
    for p in &placements {
        assert!(depth_of[p.index].is_none(), "placed twice: {p:?}");
        let expected = match p.parent {
            Some(parent) => depth_of[parent].expect("parent placed before its child") + 1,
            None => 0,
        };
        assert_eq!(p.depth, expected, "{p:?}");
        depth_of[p.index] = Some(p.depth);
    }
});
