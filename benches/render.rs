//! Rendering throughput (`cargo bench --bench render`): every message of the linux-man archive,
//! held in memory, parsed with mail-parser and rendered with default options on one thread
//! (target: 20,000 messages/s or more), then one megabyte of deeply nested quotes, in a gentle
//! and a pathological form (target: under 50 ms each). A plain `main`, no harness: the figures
//! are printed, never asserted (DESIGN: performance is measured, not a timed test). A timing
//! breakdown by stage shows where the time goes when a target is missed.

mod timing;

use std::hint::black_box;
use std::time::{Duration, Instant};

use listbridge::archive::readers::read_paths;
use listbridge::mail::render::{RenderOptions, chosen_text, render_message};
use listbridge::mail::sanitize::{SanitizeOptions, sanitize_html};
use listbridge::mail::trim::trim;
use mail_parser::{Message, MessageParser};
use timing::best_of;

const RUNS: usize = 3;
const QUOTE_RUNS: usize = 5;
const QUOTE_BODY_BYTES: usize = 1 << 20;

/// The whole archive in memory, so that reading and gunzip are not timed.
fn load_archive() -> Vec<Vec<u8>> {
    let path = timing::linux_man_archive("render");
    read_paths(&[path])
        .and_then(|reader| reader.map(|m| m.map(|m| m.bytes)).collect())
        .unwrap_or_else(|e| {
            eprintln!("render bench: cannot read the archive: {e}");
            std::process::exit(2);
        })
}

fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(raw)
}

/// What `render_message` does per message, on one thread.
fn render_all(messages: &[Vec<u8>], options: &RenderOptions) {
    for raw in messages {
        if let Some(message) = parse(raw) {
            black_box(render_message(&message, options, &|_| None));
        }
    }
}

fn cpu_note(cpu: Option<Duration>, messages: usize) -> String {
    match cpu {
        Some(cpu) => format!(
            " (on CPU {:.2} s: {:.0} messages/s)",
            cpu.as_secs_f64(),
            messages as f64 / cpu.as_secs_f64()
        ),
        None => String::new(),
    }
}

/// One pass with the stages timed apart: parse, choosing the text, trimming it, sanitising the
/// HTML of HTML-only mail, and the whole of `render_message` (whose rest is headers,
/// attachment hashes and forwarded messages).
fn breakdown(messages: &[Vec<u8>], options: &RenderOptions) {
    let (mut parse_t, mut chosen_t, mut trim_t, mut sanitize_t, mut render_t) = Default::default();
    let mut html_only = 0;
    for raw in messages {
        let start = Instant::now();
        let Some(message) = parse(raw) else { continue };
        parse_t += start.elapsed();
        let start = Instant::now();
        let chosen = chosen_text(&message);
        chosen_t += start.elapsed();
        let start = Instant::now();
        black_box(trim(&chosen.text, &options.trim));
        trim_t += start.elapsed();
        if chosen.html_only {
            html_only += 1;
            let html = message.body_html(0).unwrap_or_default();
            let start = Instant::now();
            black_box(sanitize_html(
                &html,
                &SanitizeOptions {
                    allow_remote_images: false,
                    cid_url: &|_| None,
                },
            ));
            sanitize_t += start.elapsed();
        }
        let start = Instant::now();
        black_box(render_message(&message, options, &|_| None));
        render_t += start.elapsed();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  breakdown (one pass): parse {:.0} ms; render_message {:.0} ms, of which chosen_text \
         {:.0} ms, trim {:.0} ms, sanitize {:.0} ms ({html_only} HTML-only messages)",
        ms(parse_t),
        ms(render_t),
        ms(chosen_t),
        ms(trim_t),
        ms(sanitize_t)
    );
}

/// A minimal mail around a plain-text body.
fn mail(body: &str) -> Vec<u8> {
    let mut raw =
        b"From: Quoter <q@example.org>\nSubject: Re: quotes\nMessage-ID: <q@example.org>\n\
        Date: Mon, 4 Mar 2024 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
            .to_vec();
    raw.extend_from_slice(body.as_bytes());
    raw
}

/// About 1 MB of lines `>…> text`, the nesting growing by one each line from 1.
fn growing_quotes() -> String {
    let mut body = String::with_capacity(QUOTE_BODY_BYTES + 4096);
    let mut depth = 1;
    while body.len() < QUOTE_BODY_BYTES {
        body.extend(std::iter::repeat_n('>', depth));
        body.push_str(" text\n");
        depth += 1;
    }
    body
}

/// About 1 MB of lines of 10,000 `>` and a word.
fn deep_quotes() -> String {
    let line = format!("{} text\n", ">".repeat(10_000));
    line.repeat(QUOTE_BODY_BYTES / line.len() + 1)
}

fn main() {
    let options = RenderOptions::default();

    let messages = load_archive();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "linux-man: {} messages, {:.1} MB in memory",
        messages.len(),
        bytes as f64 / 1e6
    );
    let (wall, cpu) = best_of(RUNS, || render_all(&messages, &options));
    let best = wall.as_secs_f64();
    println!(
        "  parse + render_message, one thread, best of {RUNS}: {:.2} s{}, {:.0} messages/s, \
         {:.1} MB/s (target >= 20,000 messages/s)",
        best,
        cpu_note(cpu, messages.len()),
        messages.len() as f64 / best,
        bytes as f64 / 1e6 / best
    );
    breakdown(&messages, &options);

    for (name, body) in [
        ("nested quotes, depth 1..N", growing_quotes()),
        ("nested quotes, 10,000 '>' a line", deep_quotes()),
    ] {
        let raw = mail(&body);
        let (best, _) = best_of(QUOTE_RUNS, || {
            let message = parse(&raw).expect("a minimal mail parses");
            black_box(render_message(&message, &options, &|_| None));
        });
        println!(
            "{name}: {:.1} MB body, parse + render best of {QUOTE_RUNS}: {:.1} ms (target < 50 ms)",
            body.len() as f64 / 1e6,
            best.as_secs_f64() * 1e3
        );
    }
}
