//! Every vector in `fixtures/xss/` goes through the sanitiser, with and without image consent,
//! and the OUTPUT is checked for anything a browser could run: elements outside the allowed set,
//! event handlers, `style`, script-bearing URLs. The output is read with a strict tokenizer for
//! html5ever's canonical serialisation; anything not in that form fails the test, so a browser
//! reads exactly the elements and attributes checked here.

mod common;

use std::path::Path;

use listbridge::mail::sanitize::{ALLOWED_TAGS, LINK_REL, SanitizeOptions, sanitize_html};

/// Attributes that carry no URL and no script.
const PLAIN_ATTRIBUTES: &[&str] = &[
    "alt",
    "title",
    "lang",
    "dir",
    "rel",
    "align",
    "valign",
    "colspan",
    "rowspan",
    "scope",
    "span",
    "start",
    "type",
    "value",
    "border",
    "cellpadding",
    "cellspacing",
];

const FORBIDDEN_ATTRIBUTES: &[&str] = &[
    "style",
    "srcdoc",
    "formaction",
    "action",
    "class",
    "id",
    "xlink:href",
    "background",
    "srcset",
    "ping",
];

/// Reads a fixture: one vector a line, `#` comments, `{{NL}}`/`{{TAB}}`/`{{xHH}}` decoded.
fn load(name: &str) -> Vec<(usize, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/xss")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(n, line)| (n + 1, decode_line(line)))
        .collect()
}

fn decode_line(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find("}}").expect("unclosed {{ in fixture");
        match &rest[start + 2..end] {
            "NL" => out.push('\n'),
            "TAB" => out.push('\t'),
            hex if hex.starts_with('x') => out.push(char::from(
                u8::from_str_radix(&hex[1..], 16).expect("{{xHH}} in fixture"),
            )),
            other => panic!("unknown fixture escape {{{{{other}}}}}"),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

struct Tag {
    name: String,
    closing: bool,
    attributes: Vec<(String, String)>,
}

/// Tokenizes html5ever's canonical serialisation, and nothing else: `<name a="v">`, `</name>`,
/// text with `<` and `>` escaped, only the entities the serialiser writes.
fn tokenize(html: &str) -> Result<Vec<Tag>, String> {
    let mut tags = Vec::new();
    let mut rest = html;
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        check_entities(&rest[..text_end], &["amp", "lt", "gt", "nbsp"])?;
        if rest[..text_end].contains('>') {
            return Err("raw '>' in text".into());
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            return Ok(tags);
        }
        let closing = rest.starts_with("</");
        let mut i = if closing { 2 } else { 1 };
        let name_len = rest[i..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
            .ok_or("unterminated tag")?;
        if name_len == 0 {
            return Err(format!("not a tag: {:.20}", rest));
        }
        let name = rest[i..i + name_len].to_string();
        i += name_len;
        let mut attributes = Vec::new();
        loop {
            match rest[i..].chars().next() {
                Some('>') => break,
                Some(' ') if !closing => {
                    let eq = i + 1 + rest[i + 1..].find("=\"").ok_or("attribute without value")?;
                    let attr = &rest[i + 1..eq];
                    if attr.is_empty()
                        || !attr.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-:_".contains(c)
                        })
                    {
                        return Err(format!("odd attribute name {attr:?}"));
                    }
                    let start = eq + 2;
                    let end = start + rest[start..].find('"').ok_or("unterminated value")?;
                    let value = &rest[start..end];
                    if value.contains(['<', '>']) {
                        return Err(format!("raw < or > in attribute {attr}"));
                    }
                    check_entities(value, &["amp", "lt", "gt", "nbsp", "quot"])?;
                    attributes.push((attr.to_string(), decode_entities(value)));
                    i = end + 1;
                }
                _ => return Err(format!("not canonical near {:.30}", &rest[i..])),
            }
        }
        tags.push(Tag {
            name,
            closing,
            attributes,
        });
        rest = &rest[i + 1..];
    }
}

fn check_entities(s: &str, allowed: &[&str]) -> Result<(), String> {
    for (at, _) in s.match_indices('&') {
        let ok = allowed
            .iter()
            .any(|e| s[at + 1..].starts_with(&format!("{e};")));
        if !ok {
            return Err(format!("unexpected entity at {:.12}", &s[at..]));
        }
    }
    Ok(())
}

/// Decodes character references as a browser would for the schemes that matter (numeric, and
/// the named ones that spell separators), so a value is judged by what it means.
fn decode_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').unwrap_or(0);
        let body = &rest[1..end.max(1)];
        let decoded = match body {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "nbsp" => Some('\u{a0}'),
            "colon" => Some(':'),
            "Tab" => Some('\t'),
            "NewLine" => Some('\n'),
            _ => body
                .strip_prefix("#x")
                .or_else(|| body.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| body.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The scheme a browser would see: entities decoded, whitespace and controls removed, lowercase.
fn scheme(value: &str) -> Option<String> {
    let squeezed: String = decode_entities(value)
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_lowercase();
    let colon = squeezed.find(':')?;
    let before = &squeezed[..colon];
    (!before.contains(['/', '?', '#', '\\'])).then(|| before.to_string())
}

fn check_output(output: &str, allow_remote_images: bool) -> Result<(), String> {
    let lower = output.to_lowercase();
    // Text is escaped, so these can only be markup (a text "javascript:" is harmless).
    for needle in ["<script", "<style", "<!--", "<svg", "<math", "<iframe"] {
        if lower.contains(needle) {
            return Err(format!("raw {needle:?} in output"));
        }
    }
    for tag in tokenize(output)? {
        if !ALLOWED_TAGS.contains(&tag.name.as_str()) {
            return Err(format!("element <{}> left", tag.name));
        }
        if tag.closing {
            continue;
        }
        for (name, value) in &tag.attributes {
            if name.starts_with("on") || FORBIDDEN_ATTRIBUTES.contains(&name.as_str()) {
                return Err(format!("attribute {name} on <{}>", tag.name));
            }
            let url = matches!(
                (tag.name.as_str(), name.as_str()),
                ("a", "href") | ("img", "src")
            );
            if !url && !PLAIN_ATTRIBUTES.contains(&name.as_str()) {
                return Err(format!("unexpected attribute {name} on <{}>", tag.name));
            }
            if !url {
                continue;
            }
            let scheme = scheme(value);
            if let Some(s) = &scheme
                && ["javascript", "vbscript", "data", "livescript"].contains(&s.as_str())
            {
                return Err(format!("{s}: URL in {name}"));
            }
            let allowed: &[&str] = if tag.name == "a" {
                &["http", "https", "mailto"]
            } else {
                &["http", "https"]
            };
            match &scheme {
                Some(s) if !allowed.contains(&s.as_str()) => {
                    return Err(format!("scheme {s}: in {name} on <{}>", tag.name));
                }
                None if tag.name == "a" => return Err(format!("relative link {value:?}")),
                None if value
                    .trim_start()
                    .chars()
                    .take(2)
                    .all(|c| c == '/' || c == '\\')
                    && value.trim_start().len() >= 2 =>
                {
                    return Err(format!("protocol-relative image {value:?}"));
                }
                Some(_) if tag.name == "img" && !allow_remote_images => {
                    return Err(format!("remote image {value:?} without consent"));
                }
                _ => {}
            }
        }
        if tag.name == "a"
            && !tag
                .attributes
                .iter()
                .any(|(n, v)| n == "rel" && v == LINK_REL)
        {
            return Err("link without rel".into());
        }
    }
    Ok(())
}

fn sanitize(html: &str, allow_remote_images: bool) -> String {
    let cid_url = |_: &str| Some("/att/x".to_string());
    sanitize_html(
        html,
        &SanitizeOptions {
            allow_remote_images,
            cid_url: &cid_url,
        },
    )
}

#[test]
fn no_vector_leaves_anything_executable() {
    let mut vectors = load("vectors.txt");
    let body_count = vectors.len();
    vectors.extend(load("headers.txt"));
    let mut failures = Vec::new();
    for (line, vector) in &vectors {
        for consent in [false, true] {
            let output = sanitize(vector, consent);
            if let Err(why) = check_output(&output, consent) {
                failures.push(format!(
                    "line {line} (consent {consent}): {why}\n  in:  {vector}\n  out: {output}"
                ));
            }
            let again = sanitize(&output, consent);
            if again != output {
                failures.push(format!(
                    "line {line} (consent {consent}): not idempotent\n  in:  {vector}\n  out: {output}\n  2nd: {again}"
                ));
            }
        }
    }
    println!(
        "checked {} vectors ({body_count} body, {} header), each with and without image consent",
        vectors.len(),
        vectors.len() - body_count
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(body_count >= 60, "only {body_count} body vectors");
}

#[test]
fn header_vectors_escape_to_plain_text() {
    let vectors = load("headers.txt");
    assert!(!vectors.is_empty());
    for (line, vector) in &vectors {
        let escaped = ammonia::clean_text(vector);
        assert!(
            !escaped.contains(['<', '>', '"', '\'']),
            "line {line}: {vector} -> {escaped}"
        );
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    // The checks above are only worth something if they fail on dangerous output.
    for bad in [
        "<script>alert(1)</script>",
        "<img src=\"x\" onerror=\"alert(1)\">",
        "<a href=\"jav&#x09;ascript:alert(1)\" rel=\"nofollow noopener noreferrer\">x</a>",
        "<a href=\"https://x/\">no rel</a>",
        "<p style=\"x\">s</p>",
        "<img src=\"data:image/png,x\">",
        "<img src=\"https://r.example/a.png\">",
        "<img src=\"//r.example/a.png\">",
        "<p title=x>unquoted</p>",
        "<!-- c -->",
        "<iframe srcdoc=\"x\"></iframe>",
    ] {
        assert!(check_output(bad, false).is_err(), "not caught: {bad}");
    }
    assert!(
        check_output(
            "<p>ok <a href=\"https://x/\" rel=\"nofollow noopener noreferrer\">x</a></p>",
            false
        )
        .is_ok()
    );
}

#[test]
fn vectors_imported_as_mail_render_with_nothing_executable() {
    // Each vector as the HTML body of a mail (and header vectors as subjects and names), through
    // the real import into a database, back out of the raw store, and rendered as a page would.
    let body = load("vectors.txt");
    let headers = load("headers.txt");
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    for (i, (line, vector)) in body.iter().enumerate() {
        let header = &headers[i % headers.len()].1.replace(['\r', '\n'], " ");
        let text = format!(
            "From: \"{}\" <xss@example.org>\r\nSubject: {header}\r\nMessage-ID: <xss-{line}@example.org>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{vector}\r\n",
            header.replace('"', "'")
        );
        std::fs::write(mail.join(format!("{i:04}.eml")), text).unwrap();
    }
    let db = dir.path().join("x.db");
    common::cli::ok(&db, &["import", mail.to_str().unwrap()]);
    let exported = dir.path().join("all.mbox");
    std::fs::write(&exported, common::cli::ok(&db, &["export", "mbox"])).unwrap();

    let mut rendered = 0;
    let mut failures = Vec::new();
    for raw in listbridge::archive::readers::read_paths(&[exported]).unwrap() {
        let raw = raw.unwrap();
        let message = mail_parser::MessageParser::default()
            .parse(&raw.bytes)
            .unwrap();
        let page = listbridge::mail::render::render_message(
            &message,
            &listbridge::mail::render::RenderOptions::default(),
            &|_| Some("/att/x".to_owned()),
        );
        let html = page.html.clone().unwrap_or_default();
        if let Err(why) = check_output(&html, false) {
            failures.push(format!("{:?}: {why}\n  out: {html}", page.message_id));
        }
        // Headers and text stay text: the templates escape them; here they must at least
        // carry no markup that our own rendering added.
        for text in [
            page.subject.as_deref().unwrap_or(""),
            &page.from,
            &page.body,
        ] {
            let escaped = ammonia::clean_text(text);
            assert!(!escaped.contains('<'), "{escaped}");
        }
        rendered += 1;
    }
    assert_eq!(
        rendered,
        body.len(),
        "every vector was imported and rendered"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
