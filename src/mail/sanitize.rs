//! The one HTML policy of the project (DESIGN invariant 4): mail HTML becomes a fragment that is
//! safe to put inside our page. Everything goes through [`sanitize_html`]; plain text written
//! into markup by hand (feeds, charts, snippets, mail we compose, the image tags rewritten here)
//! goes through [`escape_markup`], the project's one escaper (templates escape by themselves).
//!
//! The policy, in short:
//! - Tags: the text formatting and structure mail uses (paragraphs, quotes, lists, tables,
//!   headings, links, images as below). Anything else is unwrapped (its text kept, e.g. `<font>`,
//!   `<center>`), except script-like, embedding and foreign-content elements, which are dropped
//!   with their content (`<script>`, `<style>`, `<iframe>`, `<svg>`, `<math>`, ...).
//! - Attributes: `dir`, `lang`, `title` everywhere; `align`/`valign`/`colspan`/`rowspan` and
//!   a few table attributes (they carry meaning in mail layouts and cannot run anything);
//!   `href` on links, `src`/`alt` on images; ordered-list numbering. No `style` at all (CSS
//!   can overlay our page, fetch remote URLs and, in old browsers, run script: dropping it is the
//!   simplest safe choice), no `class`/`id` (they could collide with our CSS and JavaScript), no
//!   `width`/`height` (mail layouts are fixed-width; our CSS sizes images), no event handlers.
//! - Links: `http`, `https`, `mailto` only (protocol-relative ones are made `https:`; relative
//!   ones mean nothing in a mail and are dropped); `rel="nofollow noopener noreferrer"`, no
//!   `target`.
//! - Images: `cid:` is mapped to the URL we serve the part from (or dropped, alt text kept);
//!   remote `http(s)` images load only with the reader's consent, otherwise they become a link
//!   `[image: ALT or file name]`; `data:` and every other scheme are dropped, alt text kept.
//!   Path-absolute `src` values (`/att/...`) are kept, because that is what our own `cid:`
//!   mapping produces (so sanitising our output again changes nothing); other relative ones
//!   are dropped, and `//host/...` counts as remote.
//! - Comments are removed; the output is re-serialised by html5ever, so it is well formed.
//!
//! Entity-encoded, mixed-case and whitespace-split schemes are decoded by the HTML parser and
//! the WHATWG URL parser exactly as a browser decodes them, before the scheme is checked.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ammonia::{Builder, Url, UrlRelative};

/// How a message's HTML is rendered.
pub struct SanitizeOptions<'a> {
    /// Remote images load only with the reader's consent; otherwise each `<img>` with a remote
    /// src is replaced by a link to the image (text "[image: ALT or file name]",
    /// `rel="nofollow noopener noreferrer"`).
    pub allow_remote_images: bool,
    /// Maps a `cid:` reference (without "cid:", percent-decoded) to the URL we serve that inline
    /// part from, or None when the message has no such part (then the image is dropped, alt
    /// text kept). The URL should be relative (`/att/...`) or absolute `http(s)`; anything else
    /// is treated as None.
    pub cid_url: &'a dyn Fn(&str) -> Option<String>,
}

/// Deeper element nesting than this is no real mail. html5ever's work per element grows with
/// the number of elements open, so HTML nested 100,000 deep would take minutes to parse: such
/// HTML is shown as its text instead.
const MAX_NESTING: usize = 1_000;

/// Sanitises mail HTML into a fragment safe to put inside our page (not a document).
pub fn sanitize_html(html: &str, options: &SanitizeOptions) -> String {
    if nests_deeper_than(html, MAX_NESTING) {
        // Flat text: ammonia parses it in one pass and escapes what needs it.
        return format!("<p>{}</p>", ammonia::clean(&tags_removed(html)));
    }
    // Pass 1 applies the whole policy but keeps image sources, so that images can be judged
    // with the reader's consent and the message's parts in hand.
    let first = policy(Pass::First).clean(html).to_string();
    let (rewritten, ours) = rewrite_images(&first, options);
    // Pass 2 re-parses what we wrote (canonical form, nesting repaired) and, as a second line
    // of defence, drops any remote image source left without consent.
    policy(Pass::Final {
        allow_remote_images: options.allow_remote_images,
        ours,
    })
    .clean(&rewritten)
    .to_string()
}

/// Elements whose end tag may be left out (or that have none): not counted as nesting, so that
/// old mail's unclosed paragraphs and list items are not taken for depth.
const NOT_NESTING: &[&str] = &[
    "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup", "tbody", "thead", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body", "br", "img", "hr", "meta",
    "link", "input", "col", "area", "base", "embed", "source", "track", "wbr", "param",
];

/// Whether the start tags in `html` nest more than `max` deep, by one linear scan that only
/// counts (no parse): start tags of other elements open a level, end tags close one.
fn nests_deeper_than(html: &str, max: usize) -> bool {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let name_len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 {
            continue;
        }
        let name = html[start..start + name_len].to_ascii_lowercase();
        if NOT_NESTING.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b'>')
                .map_or(bytes.len(), |e| start + e);
            if end > 0 && bytes[end - 1] != b'/' {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
        }
    }
    false
}

/// The text of HTML with every tag removed (one linear pass): for HTML too deep to parse.
fn tags_removed(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Relative URLs are resolved against this to tell same-origin paths from `//host` ones.
const BASE: &str = "https://listbridge.invalid/";
/// The `rel` every link the sanitiser keeps carries.
pub const LINK_REL: &str = "nofollow noopener noreferrer";

enum Pass {
    First,
    Final {
        allow_remote_images: bool,
        /// Absolute URLs that `cid_url` gave us: our own, so not remote.
        ours: HashSet<String>,
    },
}

/// The elements the sanitiser keeps; anything else is dropped (its text kept).
#[rustfmt::skip]
pub const ALLOWED_TAGS: &[&str] = &[
    "p", "br", "div", "span", "blockquote", "pre", "code", "hr",
    "a", "b", "i", "u", "em", "strong", "s", "strike", "del", "ins", "mark", "sub", "sup",
    "small", "big", "tt", "kbd", "samp", "var", "abbr", "cite", "q", "dfn",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col", "img",
];

/// Dropped together with their content: code, styles, embedded documents, foreign content
/// (namespace confusion lives there), form controls and head-only text.
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "title", "noscript", "template", "iframe", "frame", "frameset", "noframes",
    "noembed", "object", "applet", "svg", "math", "select", "textarea", "xml",
];

const TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("img", &["src", "alt"]),
    ("ol", &["start", "type"]),
    ("li", &["value"]),
    ("p", &["align"]),
    ("div", &["align"]),
    ("h1", &["align"]),
    ("h2", &["align"]),
    ("h3", &["align"]),
    ("h4", &["align"]),
    ("h5", &["align"]),
    ("h6", &["align"]),
    ("table", &["align", "border", "cellpadding", "cellspacing"]),
    ("caption", &["align"]),
    ("thead", &["align", "valign"]),
    ("tbody", &["align", "valign"]),
    ("tfoot", &["align", "valign"]),
    ("tr", &["align", "valign"]),
    ("td", &["align", "valign", "colspan", "rowspan"]),
    ("th", &["align", "valign", "colspan", "rowspan", "scope"]),
    ("col", &["align", "valign", "span"]),
    ("colgroup", &["align", "valign", "span"]),
];

fn policy(pass: Pass) -> Builder<'static> {
    let mut builder = Builder::empty();
    let tag_attributes: HashMap<&str, HashSet<&str>> = TAG_ATTRIBUTES
        .iter()
        .map(|(tag, attrs)| (*tag, attrs.iter().copied().collect()))
        .collect();
    // `cid:` survives pass 1 only, to be mapped between the passes.
    let schemes: &[&str] = match &pass {
        Pass::First => &["http", "https", "mailto", "cid"],
        Pass::Final { .. } => &["http", "https", "mailto"],
    };
    builder
        .tags(ALLOWED_TAGS.iter().copied().collect())
        .clean_content_tags(DROP_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(["dir", "lang", "title"].into_iter().collect())
        .tag_attributes(tag_attributes)
        .url_schemes(schemes.iter().copied().collect())
        // Relative URLs are judged per element in the filter below.
        .url_relative(UrlRelative::PassThrough)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| {
            filter_url(&pass, element, attribute, value)
        });
    builder
}

/// Where a URL points, once parsed as a browser would.
enum Target {
    /// Absolute with a scheme (already limited to the allowed ones by ammonia).
    Absolute(Url),
    /// A path on our own site (`/...`).
    SameOrigin,
    /// Nothing usable (empty, unparsable).
    Nothing,
}

fn classify(value: &str) -> Target {
    match Url::parse(value) {
        Ok(url) => Target::Absolute(url),
        Err(ammonia::url::ParseError::RelativeUrlWithoutBase) => {
            if value.trim().is_empty() {
                return Target::Nothing;
            }
            let base = Url::parse(BASE).expect("constant base URL");
            match base.join(value) {
                // `//host/x` (or `\\host\x`) is remote, not ours: make it absolute.
                Ok(url) if url.host_str() != base.host_str() => Target::Absolute(url),
                // Only the path-absolute form our `cid:` mapping produces; a path relative to
                // whichever page shows the mail means nothing.
                Ok(_) if value.trim_start().starts_with('/') => Target::SameOrigin,
                _ => Target::Nothing,
            }
        }
        Err(_) => Target::Nothing,
    }
}

fn is_web(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

fn filter_url<'u>(
    pass: &Pass,
    element: &str,
    attribute: &str,
    value: &'u str,
) -> Option<Cow<'u, str>> {
    match (element, attribute) {
        ("a", "href") => match classify(value) {
            Target::Absolute(url) if is_web(&url) || url.scheme() == "mailto" => {
                Some(keep_or_absolute(value, url))
            }
            _ => None,
        },
        ("img", "src") => match classify(value) {
            Target::Absolute(url) if url.scheme() == "cid" => {
                matches!(pass, Pass::First).then_some(Cow::Borrowed(value))
            }
            Target::Absolute(url) if is_web(&url) => match pass {
                Pass::Final {
                    allow_remote_images: false,
                    ours,
                } if !ours.contains(value) => None,
                _ => Some(keep_or_absolute(value, url)),
            },
            Target::SameOrigin => Some(Cow::Borrowed(value)),
            _ => None,
        },
        _ => Some(Cow::Borrowed(value)),
    }
}

/// Keeps the author's spelling of a URL unless it was protocol-relative.
fn keep_or_absolute(value: &str, url: Url) -> Cow<'_, str> {
    if Url::parse(value).is_ok() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(url.to_string())
    }
}

/// Replaces each `<img>` in pass 1's output as the policy says. That output is html5ever's
/// canonical serialisation (`<name attr="value">`, `"`, `<`, `>` and `&` escaped inside values,
/// `<` escaped in text), so a tag can be found and read without a parser.
fn rewrite_images(html: &str, options: &SanitizeOptions) -> (String, HashSet<String>) {
    let mut out = String::with_capacity(html.len());
    let mut ours = HashSet::new();
    let mut rest = html;
    let mut in_link = false;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(tag) = read_tag(rest) else {
            // Not canonical after all: leave it to pass 2, which drops what pass 1 kept only
            // for this step (cid: and, without consent, remote sources).
            out.push_str(rest);
            return (out, ours);
        };
        match tag.name {
            "a" if !tag.closing => in_link = true,
            "a" => in_link = false,
            _ => {}
        }
        if tag.name == "img" && !tag.closing {
            out.push_str(&image(&tag.attributes, in_link, options, &mut ours));
        } else {
            out.push_str(&rest[..tag.len]);
        }
        rest = &rest[tag.len..];
    }
    out.push_str(rest);
    (out, ours)
}

struct Tag<'h> {
    name: &'h str,
    closing: bool,
    /// Names and unescaped values.
    attributes: Vec<(&'h str, String)>,
    len: usize,
}

fn read_tag(s: &str) -> Option<Tag<'_>> {
    let closing = s.starts_with("</");
    let mut i = if closing { 2 } else { 1 };
    let name_end = i + s[i..].find([' ', '>'])?;
    let name = &s[i..name_end];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    i = name_end;
    let mut attributes = Vec::new();
    loop {
        match s[i..].chars().next()? {
            '>' => break,
            ' ' => {
                let eq = i + 1 + s[i + 1..].find("=\"")?;
                let attr = &s[i + 1..eq];
                if attr.is_empty() || attr.contains(['>', ' ', '"']) {
                    return None;
                }
                let value_start = eq + 2;
                let value_end = value_start + s[value_start..].find('"')?;
                attributes.push((attr, unescape(&s[value_start..value_end])));
                i = value_end + 1;
            }
            _ => return None,
        }
    }
    Some(Tag {
        name,
        closing,
        attributes,
        len: i + 1,
    })
}

/// Undoes html5ever's attribute escaping (the only entities it writes).
fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn image(
    attributes: &[(&str, String)],
    in_link: bool,
    options: &SanitizeOptions,
    ours: &mut HashSet<String>,
) -> String {
    let get = |name: &str| {
        attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    let alt = get("alt").unwrap_or("").trim();
    // Pass 2 re-parses what is written here, so its escaping is what finally shows.
    let alt_text = || escape_markup(alt);
    let Some(src) = get("src") else {
        return alt_text();
    };
    let with_src = |src: &str| {
        let mut tag = String::from("<img");
        for (name, value) in attributes {
            let value = if *name == "src" { src } else { value };
            tag.push_str(&format!(" {name}=\"{}\"", escape_markup(value)));
        }
        tag.push('>');
        tag
    };
    match classify(src) {
        Target::Absolute(url) if url.scheme() == "cid" => {
            let id = percent_decode(url.path());
            let Some(mapped) = (options.cid_url)(&id) else {
                return alt_text();
            };
            match classify(&mapped) {
                Target::SameOrigin => with_src(&mapped),
                Target::Absolute(u) if is_web(&u) => {
                    ours.insert(mapped.clone());
                    with_src(&mapped)
                }
                _ => alt_text(),
            }
        }
        Target::Absolute(url) if is_web(&url) => {
            if options.allow_remote_images {
                return with_src(url.as_str());
            }
            let label = if alt.is_empty() {
                file_name(&url)
            } else {
                alt.to_string()
            };
            let text = escape_markup(&format!("[image: {label}]"));
            if in_link {
                // A link inside a link is not allowed; the outer one already goes somewhere.
                text
            } else {
                format!(
                    "<a href=\"{}\" rel=\"{LINK_REL}\">{text}</a>",
                    escape_markup(url.as_str())
                )
            }
        }
        Target::SameOrigin => with_src(src),
        _ => alt_text(),
    }
}

/// The last path segment of an image URL, else its host.
fn file_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .unwrap_or_else(|| url.host_str().unwrap_or("remote").to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text made safe inside HTML, XML or SVG content and attribute values (the five markup
/// characters escaped; control characters, which XML forbids, dropped). For text we write
/// ourselves around escaped parts: Atom feeds, charts, digests, search snippets, composed mail.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str, allow_remote_images: bool) -> String {
        let cid_url = |cid: &str| (cid == "logo@example.org").then(|| "/att/abc123".to_string());
        sanitize_html(
            html,
            &SanitizeOptions {
                allow_remote_images,
                cid_url: &cid_url,
            },
        )
    }

    #[test]
    fn text_structure_is_kept() {
        let cases: &[(&str, &str)] = &[
            (
                "<p>Hello</p><p>World<br>again</p>",
                "<p>Hello</p><p>World<br>again</p>",
            ),
            (
                "<blockquote type=\"cite\"><p>quoted</p></blockquote>",
                "<blockquote><p>quoted</p></blockquote>",
            ),
            (
                "<ul><li><b>one</b></li><li><em>two</em></li></ul><ol start=\"3\"><li>three</li></ol>",
                "<ul><li><b>one</b></li><li><em>two</em></li></ul><ol start=\"3\"><li>three</li></ol>",
            ),
            (
                "<pre><code>a &lt; b</code></pre>",
                "<pre><code>a &lt; b</code></pre>",
            ),
            (
                "<font face=\"Arial\" color=red>plain</font> <center>mid</center>",
                "plain mid",
            ),
            (
                "<p style=\"color:red\" class=\"x\" id=\"main\" dir=\"rtl\" lang=\"ar\">s</p>",
                "<p dir=\"rtl\" lang=\"ar\">s</p>",
            ),
            ("<!-- secret --><p>after</p>", "<p>after</p>"),
            ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input, false), *want, "input: {input}");
        }
    }

    #[test]
    fn tables_keep_their_shape() {
        let html = "<table border=\"1\" width=\"600\" style=\"x\"><thead><tr><th colspan=\"2\">H</th></tr></thead>\
                    <tbody><tr><td align=\"right\" valign=\"top\" rowspan=\"2\">a</td><td>b</td></tr></tbody></table>";
        assert_eq!(
            clean(html, false),
            "<table border=\"1\"><thead><tr><th colspan=\"2\">H</th></tr></thead>\
             <tbody><tr><td align=\"right\" valign=\"top\" rowspan=\"2\">a</td><td>b</td></tr></tbody></table>"
        );
    }

    #[test]
    fn links_are_marked_and_limited() {
        assert_eq!(
            clean(
                "<a href=\"https://nice.org.uk/x?a=1&amp;b=2\" target=\"_blank\">NICE</a>",
                false
            ),
            "<a href=\"https://nice.org.uk/x?a=1&amp;b=2\" rel=\"nofollow noopener noreferrer\">NICE</a>"
        );
        assert_eq!(
            clean("<a href=\"mailto:a@b.nhs.uk\">mail</a>", false),
            "<a href=\"mailto:a@b.nhs.uk\" rel=\"nofollow noopener noreferrer\">mail</a>"
        );
        assert_eq!(
            clean("<a href=\"//example.org/p\">p</a>", false),
            "<a href=\"https://example.org/p\" rel=\"nofollow noopener noreferrer\">p</a>"
        );
        for bad in [
            "javascript:alert(1)",
            "/logout",
            "#top",
            "ftp://x/y",
            "data:text/html,x",
        ] {
            assert_eq!(
                clean(&format!("<a href=\"{bad}\">t</a>"), false),
                "<a rel=\"nofollow noopener noreferrer\">t</a>",
                "href {bad}"
            );
        }
    }

    #[test]
    fn cid_images_are_mapped_or_reduced_to_alt() {
        assert_eq!(
            clean(
                "<img src=\"cid:logo@example.org\" alt=\"Logo\" width=\"900\">",
                false
            ),
            "<img src=\"/att/abc123\" alt=\"Logo\">"
        );
        assert_eq!(
            clean("<img src=\"CID:logo%40example.org\" alt=\"Logo\">", false),
            "<img src=\"/att/abc123\" alt=\"Logo\">"
        );
        assert_eq!(
            clean(
                "<p><img src=\"cid:missing@x\" alt=\"Chart &amp; key\"></p>",
                false
            ),
            "<p>Chart &amp; key</p>"
        );
        assert_eq!(
            clean(
                "<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"pic\">",
                true
            ),
            "pic"
        );
        // A path relative to whatever page shows the mail means nothing.
        assert_eq!(
            clean("<img src=\"image001.png\" alt=\"sig\">", false),
            "sig"
        );
    }

    #[test]
    fn an_absolute_url_of_ours_is_not_remote() {
        // What `cid_url` gives that is not a web URL is not trusted either, remote images or not.
        for (ours, allow_remote_images, want) in [
            (
                "https://forum.example.nhs.uk/att/1",
                false,
                "<img src=\"https://forum.example.nhs.uk/att/1\" alt=\"x\">",
            ),
            ("javascript:alert(1)", true, "x"),
        ] {
            let cid_url = |_: &str| Some(ours.to_string());
            let options = SanitizeOptions {
                allow_remote_images,
                cid_url: &cid_url,
            };
            assert_eq!(
                sanitize_html("<img src=\"cid:a@b\" alt=\"x\">", &options),
                want
            );
        }
    }

    #[test]
    fn remote_images_need_consent() {
        let html = "<p><img src=\"https://cdn.example.org/img/chart%201.png?x=1\" alt=\"\"></p>";
        assert_eq!(
            clean(html, false),
            "<p><a href=\"https://cdn.example.org/img/chart%201.png?x=1\" \
             rel=\"nofollow noopener noreferrer\">[image: chart 1.png]</a></p>"
        );
        assert_eq!(
            clean(html, true),
            "<p><img src=\"https://cdn.example.org/img/chart%201.png?x=1\" alt=\"\"></p>"
        );
        assert_eq!(
            clean(
                "<img src=\"http://t.example/pixel.gif\" alt=\"Tracker <b>\">",
                false
            ),
            "<a href=\"http://t.example/pixel.gif\" rel=\"nofollow noopener noreferrer\">[image: Tracker &lt;b&gt;]</a>"
        );
        // Protocol-relative is remote too, however it is spelt.
        for src in [
            "//t.example/p.gif",
            r"/\t.example/p.gif",
            r"\\t.example\p.gif",
        ] {
            assert_eq!(
                clean(&format!("<img src=\"{src}\" alt=\"p\">"), false),
                "<a href=\"https://t.example/p.gif\" rel=\"nofollow noopener noreferrer\">[image: p]</a>",
                "src {src}"
            );
        }
        // Inside a link the image becomes text: links cannot nest.
        assert_eq!(
            clean(
                "<a href=\"https://a.example/\"><img src=\"https://a.example/b.png\" alt=\"Banner\"></a>",
                false
            ),
            "<a href=\"https://a.example/\" rel=\"nofollow noopener noreferrer\">[image: Banner]</a>"
        );
    }

    #[test]
    fn output_is_stable() {
        for html in [
            "<p>x<img src=\"cid:logo@example.org\"><img src=\"https://r.example/a.png\" alt=\"a\"></p>",
            "<table><tr><td>unclosed",
            "<a href=\"https://a.example/\"><img src=\"https://a.example/b.png\"></a>",
        ] {
            for consent in [false, true] {
                let once = clean(html, consent);
                assert_eq!(clean(&once, consent), once, "input: {html}");
            }
        }
    }

    #[test]
    fn html_nested_beyond_reason_is_shown_as_text() {
        let deep = format!(
            "<p>top</p>{}bottom{}",
            "<div><b>".repeat(600),
            "</b></div>".repeat(600)
        );
        let shown = clean(&deep, false);
        assert_eq!(shown, "<p>top bottom</p>");
        // Ordinary mail, unclosed paragraphs and all, is not affected.
        let old_mail = format!("{}<div><i>x</i></div>", "<p>para<br>".repeat(5_000));
        assert!(!nests_deeper_than(&old_mail, MAX_NESTING));
        assert!(clean(&old_mail, false).contains("<i>x</i>"));
        // A script's text is no more than text there.
        let hostile = format!("{}<script>alert(1)</script>", "<span>".repeat(2_000));
        assert!(!clean(&hostile, false).contains("<script"));
    }
}
