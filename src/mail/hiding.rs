//! Addresses as a reader who may not see them sees them: what counts as an email address in
//! text (decided here, once, for every page, feed and answer) and its shortened form
//! ("ja…@nhs.net", as Google Groups shows them). Generous on purpose: internationalised
//! domains (`jane@nhs.ünï.org`), local parts with an apostrophe (`o'brien@`, also as HTML writes
//! it, `o&#39;brien@`), and an `@` written `%40` (`mailto:jane%40nhs.net`) or as a character
//! reference all count, since a reader would read them as addresses. Pure: text in, text out.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// A local part (letters and digits of any script, the usual punctuation, an apostrophe also
/// as HTML escapes it), an `@` in any of its spellings, and a domain of two or more labels of
/// letters, digits and hyphens. `/`, `=`, `?`, `&` and `<` end a local part, so that a path
/// (`/m/ID`), a query string or markup around an address is not taken for part of it.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?:[\p{L}\p{N}._%+\-'’!$*^`{|}~]|&\#39;|&\#x27;|&apos;)+
        (?:@|%40|&\#64;|&\#x40;|＠)
        [\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?
        (?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)+",
    )
    .expect("the address pattern compiles")
});

/// The spellings of `@` the pattern accepts, longest first.
const ATS: [&str; 5] = ["&#x40;", "&#64;", "%40", "＠", "@"];

/// Where `text` holds an address, in order. A match's leading dots and quotes are text around
/// it, not part of it.
pub fn address_spans(text: &str) -> Vec<Range<usize>> {
    if !text.contains(['@', '%', '&', '＠']) {
        return Vec::new();
    }
    ADDRESS
        .find_iter(text)
        .map(|m| {
            let skipped = m.as_str().len()
                - m.as_str()
                    .trim_start_matches(['.', '\'', '’', '-'])
                    .trim_start_matches("&#39;")
                    .trim_start_matches("&#x27;")
                    .trim_start_matches("&apos;")
                    .len();
            m.start() + skipped..m.end()
        })
        .filter(|r| !r.is_empty() && !ATS.iter().any(|at| text[r.clone()].starts_with(at)))
        .collect()
}

/// "jane.doe@nhs.net" as a reader not signed in sees it: "ja…@nhs.net" (one letter of a short
/// local part). An `@` spelled otherwise is shown as `@`.
pub fn shortened(address: &str) -> String {
    let (local, domain) = ATS
        .iter()
        .filter_map(|at| address.find(at).map(|i| (i, at.len())))
        .min_by_key(|(i, _)| *i)
        .map(|(i, len)| (&address[..i], &address[i + len..]))
        .unwrap_or((address, ""));
    let local = local
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&apos;", "'");
    let letters = local.chars().filter(|c| c.is_alphanumeric()).count();
    let shown: String = local
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(if letters > 4 { 2 } else { 1 })
        .collect();
    format!("{shown}…@{domain}")
}

/// `text` with every address shortened, except those `keep` accepts (it is given the text
/// before the address and the address).
pub fn hide_addresses_except<'t>(text: &'t str, keep: impl Fn(&str, &str) -> bool) -> Cow<'t, str> {
    let spans = address_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        let token = &text[span.clone()];
        if keep(&text[..span.start], token) {
            continue;
        }
        out.push_str(&text[at..span.start]);
        out.push_str(&shortened(token));
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` with every address shortened.
pub fn hide_addresses(text: &str) -> Cow<'_, str> {
    hide_addresses_except(text, |_, _| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_address_is_shortened() {
        for (text, shown) in [
            ("mail jane.doe@nhs.net today", "mail ja…@nhs.net today"),
            ("Jane <jane@nhs.ünï.org>", "Jane <j…@nhs.ünï.org>"),
            (
                "<a href=\"mailto:jane%40nhs.net\">",
                "<a href=\"mailto:j…@nhs.net\">",
            ),
            ("ask o'brien@gp.nhs.uk.", "ask ob…@gp.nhs.uk."),
            ("ask o&#39;brien@gp.nhs.uk", "ask ob…@gp.nhs.uk"),
            ("'amy+list@gp.nhs.uk'", "'am…@gp.nhs.uk'"),
            ("j.smith&#64;nhs.net", "js…@nhs.net"),
            (
                "ids: <abc123@mail.example.org>",
                "ids: <ab…@mail.example.org>",
            ),
            (
                "no addresses here @ all, a@b",
                "no addresses here @ all, a@b",
            ),
        ] {
            assert_eq!(hide_addresses(text), shown, "{text}");
        }
    }

    #[test]
    fn kept_addresses_are_the_callers_choice() {
        let text = "<a href=\"/m/abc@x.org\">abc@x.org</a>";
        let kept = hide_addresses_except(text, |before, _| before.ends_with("/m/"));
        assert_eq!(kept, "<a href=\"/m/abc@x.org\">a…@x.org</a>");
    }
}
