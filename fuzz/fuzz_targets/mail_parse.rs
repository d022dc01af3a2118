//! Fuzzes the path every incoming mail takes (parse, render, calendar parts, classify): all of
//! it runs on bytes from strangers, so no input may panic, overflow or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use listbridge::mail::accept::{Inbox, Mode, classify};
use listbridge::mail::calendar::{calendar_parts, parse_calendar};
use listbridge::mail::parse::parse_message;
use listbridge::mail::render::{RenderOptions, render_message};
use listbridge::mail::trim::TrimOptions;
use std::sync::OnceLock;

fn options() -> &'static RenderOptions {
    static OPTIONS: OnceLock<RenderOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| RenderOptions {
        trim: TrimOptions {
            footer_patterns: vec![
                regex::Regex::new(r"^_{20,}$").unwrap(),
                regex::Regex::new(r"(?i)to unsubscribe").unwrap(),
            ],
        },
        subject_tag: Some("[list]".to_owned()),
        allow_remote_images: false,
        own_domain: Some("lists.test".to_owned()),
    })
}

const INBOX: Inbox<'static> = Inbox {
    mode: Mode::Host,
    own_id_key: b"site secret",
    own_addresses: &["list@lists.test", "bounces@lists.test"],
    list_address: "list@lists.test",
    reply_address: "reply+{key}@lists.test",
    bounce_address: "bounces+{recipient}@lists.test",
    max_bytes: 1 << 20,
};

fuzz_target!(|data: &[u8]| {
    let options = options();
    if parse_message(
        data,
        Some("someone@example.org Thu Jan  1 00:00:00 2004"),
        options,
    )
    .is_ok()
    {
        if let Some(message) = mail_parser::MessageParser::default().parse(data) {
            let part_url =
                |a: &listbridge::mail::render::Attachment| Some(format!("/part/{}", a.part));
            let _ = render_message(&message, options, &part_url);
        }
    }
    for part in calendar_parts(data) {
        let _ = parse_calendar(&part);
    }
    let message = listbridge::mail::parse::mime(data);
    let _ = classify(message.as_ref(), &INBOX);
    if let Some(message) = &message {
        let _ = listbridge::mail::accept::sender(message);
        let _ = listbridge::mail::accept::recipients(message);
        let _ = listbridge::mail::accept::is_automatic(message);
    }
});
