//! Light formatting for posts written on the web. Members type a small Markdown subset
//! (paragraphs, emphasis, lists, quotes, code, links); the same source goes out as the
//! text/plain part of the mail (Markdown reads well as plain text) and, through [`to_html`], as
//! the text/html part and the web view. Raw HTML in the source is never interpreted: it is
//! shown as the text it is, and the result still passes the one sanitiser policy, so nothing a
//! member types can put script or a `javascript:` link on a page or in a mail.

use pulldown_cmark::{Event, Options, Parser, html};

use super::sanitize::{SanitizeOptions, sanitize_html};

/// The longest passage a reply quotes; a longer selection is cut at a line or word boundary.
const MAX_QUOTE_CHARS: usize = 2_000;

/// The HTML of a light-formatted source, sanitised.
pub fn to_html(source: &str) -> String {
    // Strikethrough is the only extension: tables, footnotes and the like are more than a
    // mail reply needs, and each one is more syntax to surprise someone typing plain text.
    let parser = Parser::new_ext(source, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
        // Raw HTML becomes text, so `<b>` shows as `<b>`: what was typed is what is seen.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        // A line break inside a paragraph is kept as one: people writing mail-like text expect
        // their lines to stay lines (as in a plain-text mail), not to run together.
        Event::SoftBreak => Event::HardBreak,
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    // Links and images still carry whatever URL was typed: the policy keeps http(s) and mailto
    // links only and turns remote images into links, exactly as for mail HTML.
    let no_parts = |_: &str| -> Option<String> { None };
    sanitize_html(
        &out,
        &SanitizeOptions {
            allow_remote_images: false,
            cid_url: &no_parts,
        },
    )
}

/// The opening of a reply that quotes a selected passage:
/// `Author wrote:\n> line\n> line\n\n`. An empty passage gives an empty string.
pub fn quote(passage: &str, author: &str) -> String {
    let normalised = passage.replace("\r\n", "\n").replace('\r', "\n");
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return String::new();
    }
    let passage = cap(trimmed, MAX_QUOTE_CHARS);
    let author = author.trim();
    let author = if author.is_empty() { "Someone" } else { author };
    let mut out = format!("{author} wrote:\n");
    for line in passage.lines() {
        let line = line.trim_end();
        // `>` alone for an empty line, as mail clients write it (no trailing space).
        if line.is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str("> ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// At most `max` characters, cut at the last line end or space before the limit when there
/// is one in the second half, and marked with an ellipsis.
fn cap(text: &str, max: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text.to_string();
    };
    let head = &text[..cut];
    let boundary = head
        .rfind('\n')
        .filter(|&i| i > cut / 2)
        .or_else(|| head.rfind(' ').filter(|&i| i > cut / 2))
        .unwrap_or(cut);
    format!("{} …", head[..boundary].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_html_table() {
        let cases: &[(&str, &str)] = &[
            ("Hello", "<p>Hello</p>\n"),
            (
                "*em* and **strong**",
                "<p><em>em</em> and <strong>strong</strong></p>\n",
            ),
            ("one\ntwo", "<p>one<br>\ntwo</p>\n"),
            ("a\n\nb", "<p>a</p>\n<p>b</p>\n"),
            ("- x\n- y", "<ul>\n<li>x</li>\n<li>y</li>\n</ul>\n"),
            ("1. x\n2. y", "<ol>\n<li>x</li>\n<li>y</li>\n</ol>\n"),
            ("3. x", "<ol start=\"3\">\n<li>x</li>\n</ol>\n"),
            ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
            ("use `a < b`", "<p>use <code>a &lt; b</code></p>\n"),
            (
                "```\nfn x() {}\n```",
                "<pre><code>fn x() {}\n</code></pre>\n",
            ),
            ("~~old~~", "<p><del>old</del></p>\n"),
            (
                "[NICE](https://nice.org.uk/x)",
                "<p><a href=\"https://nice.org.uk/x\" rel=\"nofollow noopener noreferrer\">NICE</a></p>\n",
            ),
            (
                "<https://nice.org.uk>",
                "<p><a href=\"https://nice.org.uk\" rel=\"nofollow noopener noreferrer\">https://nice.org.uk</a></p>\n",
            ),
            (
                "<a@b.nhs.uk>",
                "<p><a href=\"mailto:a@b.nhs.uk\" rel=\"nofollow noopener noreferrer\">a@b.nhs.uk</a></p>\n",
            ),
            // Raw HTML is text, never markup.
            ("<b>bold</b>", "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            (
                "x <img src=x onerror=alert(1)>",
                "<p>x &lt;img src=x onerror=alert(1)&gt;</p>\n",
            ),
            // Dangerous links lose their target.
            (
                "[click](javascript:alert(1))",
                "<p><a rel=\"nofollow noopener noreferrer\">click</a></p>\n",
            ),
            (
                "[x](data:text/html,hi)",
                "<p><a rel=\"nofollow noopener noreferrer\">x</a></p>\n",
            ),
            // Remote images are not loaded from a post either.
            (
                "![chart](https://cdn.example.org/c.png)",
                "<p><a href=\"https://cdn.example.org/c.png\" rel=\"nofollow noopener noreferrer\">[image: chart]</a></p>\n",
            ),
            ("", ""),
        ];
        for (source, want) in cases {
            assert_eq!(to_html(source), *want, "source {source:?}");
        }
    }

    #[test]
    fn quote_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("one line", "Jane Doe", "Jane Doe wrote:\n> one line\n\n"),
            (
                "  first\r\nsecond  \r\n\r\nthird\n\n",
                "Jane",
                "Jane wrote:\n> first\n> second\n>\n> third\n\n",
            ),
            ("a\rb", "Jane", "Jane wrote:\n> a\n> b\n\n"),
            ("x", "  ", "Someone wrote:\n> x\n\n"),
            ("   \r\n ", "Jane", ""),
        ];
        for (passage, author, want) in cases {
            assert_eq!(quote(passage, author), *want, "passage {passage:?}");
        }
    }

    #[test]
    fn long_quotes_are_capped_at_a_boundary() {
        let passage = "word ".repeat(1_000);
        let quoted = quote(&passage, "Jane");
        let body = quoted
            .strip_prefix("Jane wrote:\n> ")
            .expect("quote header");
        assert!(body.ends_with("word …\n\n"), "{body:?}");
        assert!(body.chars().count() <= MAX_QUOTE_CHARS + 4);
        assert!(body.chars().count() > MAX_QUOTE_CHARS - 10);
        // No boundary at all: cut at the limit.
        let solid = "x".repeat(3_000);
        let quoted = quote(&solid, "J");
        assert_eq!(quoted, format!("J wrote:\n> {} …\n\n", "x".repeat(2_000)));
    }
}
