//! Pipermail author de-obfuscation. Mailman 2's text archives hide addresses as
//! `jdoe at example.com (John Doe)`; this turns that back into `John Doe <jdoe@example.com>`.
//! Archives scraped from 2018 on carry a second, lossy mangling that cannot be reversed; from
//! those only the real name is recovered, and [`mangled_matches`] lets a caller confirm a real
//! address seen elsewhere instead of guessing one.
//!
//! The mangled form, from the R-SIG-Finance archive: `LOCAL JOIN HOST (NAME)` where JOIN is one of
//! `@ending from`, `@end|ng |rom`, `m@ili@g off`, `m@iii@g oii` (so `aschmid1 at stevens.edu`
//! became `@@chmid1 @ending from @teven@@edu`). Comparing 85 authors who appear in both forms:
//! `a`, `s` and `.` all became `@` (and `n` too in the `m@ili@g` variants), and in the `|` and
//! `oii` variants `i`, `l` and `f` all became `|` (or `i`). Several letters map to one, so the
//! address is gone; only NAME (when it is not itself a copy of the mangled address) survives.

/// The join words of the mangled form, with the letters each mangled character may stand for.
const MANGLINGS: [Mangling; 4] = [
    Mangling {
        join: ("@ending", "from"),
        at: "as.",
        bar: "",
    },
    Mangling {
        join: ("@end|ng", "|rom"),
        at: "as.",
        bar: "ilf",
    },
    Mangling {
        join: ("m@ili@g", "off"),
        at: "asn.",
        bar: "",
    },
    Mangling {
        join: ("m@iii@g", "oii"),
        at: "asn.",
        bar: "ilf",
    },
];

struct Mangling {
    join: (&'static str, &'static str),
    /// What a mangled `@` may stand for.
    at: &'static str,
    /// What a mangled `|` (or `i`, in the `oii` variant) may stand for; empty: no such mapping.
    bar: &'static str,
}

/// What an obfuscated author value holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obfuscated {
    /// The real name, as written (RFC 2047 words still encoded), when there is one.
    pub name: Option<String>,
    /// The address, when the obfuscation is reversible (`jdoe at example.com`).
    pub address: Option<String>,
    /// The mangled address as written (`@@chmid1 @ending from @teven@@edu`) when it is not
    /// reversible; see [`mangled_matches`].
    pub mangled: Option<String>,
}

/// One line of a list roster: `Jane Doe <jane@example.org>`, `"Doe, Jane" <jane@example.org>`,
/// `jane@example.org (Jane Doe)` or a bare address. Gives (name, lowercased address); the name
/// falls back to the address's local part.
pub fn parse_roster_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let (name, address) = if let Some((before, rest)) = line.rsplit_once('<') {
        (
            before.trim().trim_matches('"').trim().to_owned(),
            rest.split('>').next()?.trim(),
        )
    } else if let Some((address, comment)) = line.split_once('(') {
        (
            comment.trim_end_matches(')').trim().to_owned(),
            address.trim(),
        )
    } else {
        (String::new(), line)
    };
    let (local, domain) = address.split_once('@')?;
    if local.is_empty()
        || !domain.contains('.')
        || address.contains(|c: char| c.is_whitespace() || c == ',' || c == '<' || c == '>')
        || address.matches('@').count() != 1
    {
        return None;
    }
    let name = if name.is_empty() {
        local.to_owned()
    } else {
        name
    };
    Some((name, address.to_lowercase()))
}

/// Reads an obfuscated pipermail author (`From:` value or separator sender); `None` when the
/// value is not obfuscated.
pub fn parse_obfuscated(value: &str) -> Option<Obfuscated> {
    // Folded headers and double spaces: one space between words.
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let (addr_part, name) = split_name(&value);
    let (address, mangled) = parse_addr(addr_part)?;
    let name = name
        .map(|n| clean_name(n, addr_part, address.as_deref()))
        .unwrap_or_default();
    Some(Obfuscated {
        name,
        address,
        mangled,
    })
}

/// Whether `value` is a pipermail-obfuscated author (either form).
pub fn is_obfuscated(value: &str) -> bool {
    parse_obfuscated(value).is_some()
}

/// `jdoe at example.com (John Doe)` → `John Doe <jdoe@example.com>`; `jdoe at example.com` →
/// `jdoe@example.com`; a mangled address with a name → the name alone (quoted if it needs to
/// be), since the address cannot be recovered. A value that is not obfuscated, or mangled with
/// nothing recoverable, is returned as it is.
pub fn deobfuscate(value: &str) -> String {
    match parse_obfuscated(value) {
        Some(Obfuscated {
            name: Some(name),
            address: Some(address),
            ..
        }) => format!("{} <{address}>", phrase(&name)),
        Some(Obfuscated {
            name: None,
            address: Some(address),
            ..
        }) => address,
        Some(Obfuscated {
            name: Some(name), ..
        }) => phrase(&name),
        _ => value.to_owned(),
    }
}

/// Whether `address` could be the real address behind a mangled one (the `mangled` field of
/// [`Obfuscated`]): same length, every character equal (ignoring case) or one the mangling maps
/// to that character. Lets an importer attach a real address seen elsewhere in the archive to a
/// mangled author, when exactly one candidate matches.
pub fn mangled_matches(mangled: &str, address: &str) -> bool {
    let words: Vec<&str> = mangled.split_whitespace().collect();
    let [local, w1, w2, host] = words[..] else {
        return false;
    };
    let Some(m) = MANGLINGS.iter().find(|m| m.join == (w1, w2)) else {
        return false;
    };
    let Some((real_local, real_host)) = address.rsplit_once('@') else {
        return false;
    };
    let bar_char = if m.join.1 == "oii" { 'i' } else { '|' };
    let matches = |mangled: &str, real: &str| {
        let real: Vec<char> = real.chars().flat_map(char::to_lowercase).collect();
        let mangled: Vec<char> = mangled.chars().flat_map(char::to_lowercase).collect();
        mangled.len() == real.len()
            && mangled.iter().zip(&real).all(|(&c, &r)| {
                c == r || (c == '@' && m.at.contains(r)) || (c == bar_char && m.bar.contains(r))
            })
    };
    matches(local, real_local) && matches(host, real_host)
}

/// Splits `ADDR (NAME)` or `NAME <ADDR>` into the address part and the name, if any.
fn split_name(value: &str) -> (&str, Option<&str>) {
    if let Some(body) = value.strip_suffix(')') {
        // The name may hold parentheses itself: `Mitra, Abhijit (IM)`.
        let mut depth = 0;
        for (i, c) in body.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 0 => return (body[..i].trim_end(), Some(&body[i + 1..])),
                '(' => depth -= 1,
                _ => {}
            }
        }
    }
    if let (Some(body), Some(open)) = (value.strip_suffix('>'), value.rfind('<')) {
        return (&body[open + 1..], Some(&value[..open]));
    }
    (value, None)
}

/// The address part: `local at host` (reversible) or `local JOIN host` (mangled).
fn parse_addr(part: &str) -> Option<(Option<String>, Option<String>)> {
    let words: Vec<&str> = part.split(' ').collect();
    match words[..] {
        [local, "at", host] if plausible_local(local) && plausible_host(host) => {
            Some((Some(format!("{local}@{host}")), None))
        }
        [local, w1, w2, host]
            if !local.is_empty()
                && !host.is_empty()
                && MANGLINGS.iter().any(|m| m.join == (w1, w2)) =>
        {
            Some((None, Some(part.to_owned())))
        }
        _ => None,
    }
}

fn plausible_local(local: &str) -> bool {
    !local.is_empty()
        && !local.contains(['@', '<', '>', '(', ')', '[', ']', '"', ',', ';', ':', '\\'])
}

fn plausible_host(host: &str) -> bool {
    host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// The real name from the comment, or `None` when it says nothing the address does not: empty,
/// a copy of the (mangled) address, or `Name <address>` reduced to its name.
fn clean_name(name: &str, addr_part: &str, address: Option<&str>) -> Option<String> {
    let mut name = name.trim();
    if name.ends_with('>')
        && let Some(open) = name.rfind('<')
    {
        name = name[..open].trim();
    }
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name)
        .trim();
    let copy = name.eq_ignore_ascii_case(addr_part)
        || address.is_some_and(|a| name.eq_ignore_ascii_case(a))
        || parse_addr(name).is_some();
    (!name.is_empty() && !copy).then(|| name.to_owned())
}

/// A display name as an RFC 5322 phrase: as it is when it is only atoms (or RFC 2047 words,
/// which must not be quoted), else a quoted string.
fn phrase(name: &str) -> String {
    let atext = |c: char| {
        c.is_alphanumeric() || !c.is_ascii() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c)
    };
    if name.chars().all(atext) || name.contains("=?") {
        return name.to_owned();
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `From:` values from the R-SIG-Finance pipermail archive (2004 to 2026), and what
    /// they become.
    #[test]
    fn deobfuscate_real_values() {
        for (value, want) in [
            (
                "edd at debian.org (Dirk Eddelbuettel)",
                "Dirk Eddelbuettel <edd@debian.org>",
            ),
            (
                "bbands at gmail.com (John Bollinger)",
                "John Bollinger <bbands@gmail.com>",
            ),
            ("jdoe at example.com", "jdoe@example.com"),
            (
                " jdoe at example.com (John Doe)\r\n",
                "John Doe <jdoe@example.com>",
            ),
            (
                "Gregor.gawron at rmf.ch (Gregor.gawron@rmf.ch)",
                "Gregor.gawron@rmf.ch",
            ),
            (
                "michael.weylandt at gmail.com (R. Michael Weylandt <michael.weylandt@gmail.com>)",
                "\"R. Michael Weylandt\" <michael.weylandt@gmail.com>",
            ),
            (
                "scott at statblocks.com (Scott @ Statblocks)",
                "\"Scott @ Statblocks\" <scott@statblocks.com>",
            ),
            (
                "Abhijit.Mitra at morganstanley.com (Mitra, Abhijit (IM))",
                "\"Mitra, Abhijit (IM)\" <Abhijit.Mitra@morganstanley.com>",
            ),
            (
                "chd850 at gmail.com (Hung-Te(Stanley) Chu)",
                "\"Hung-Te(Stanley) Chu\" <chd850@gmail.com>",
            ),
            (
                "montezumasrevenge at gmail.com (Monty B. )",
                "\"Monty B.\" <montezumasrevenge@gmail.com>",
            ),
            (
                "amkatz at Princeton.EDU (Aaron M Katz (amkatz@Princeton.EDU))",
                "\"Aaron M Katz (amkatz@Princeton.EDU)\" <amkatz@Princeton.EDU>",
            ),
            (
                "wojciech.slusarski at gmail.com (=?UTF-8?Q?Wojciech_=C5=9Alusarski?=)",
                "=?UTF-8?Q?Wojciech_=C5=9Alusarski?= <wojciech.slusarski@gmail.com>",
            ),
            (
                "oyvfos at yahoo.no (\u{d8}yvind Foshaug)",
                "\u{d8}yvind Foshaug <oyvfos@yahoo.no>",
            ),
            (
                "Brian G. Peterson <brian at braverock.com>",
                "\"Brian G. Peterson\" <brian@braverock.com>",
            ),
            // 2018 on: the address is lost, the name survives.
            (
                "@@chmid1 @ending from @teven@@edu (Alec Schmidt)",
                "Alec Schmidt",
            ),
            (
                "br|@n @end|ng |rom br@verock@com (Brian G. Peterson)",
                "\"Brian G. Peterson\"",
            ),
            (
                "hello @ending from eivinddovik@com (Eivind K. Dovik)",
                "\"Eivind K. Dovik\"",
            ),
            ("@gent@ @end|ng |rom medd@t@|nc@com (H)", "H"),
            (
                "percent||101 @end|ng |rom gm@||@com (=?UTF-8?Q?Pedro_p=C3=A1ramo?=)",
                "=?UTF-8?Q?Pedro_p=C3=A1ramo?=",
            ),
            // Nothing recoverable: the name is a copy of the mangled address.
            (
                "mhio@goth m@iii@g oii duck@com (mhio@goth m@iii@g oii duck@com)",
                "mhio@goth m@iii@g oii duck@com (mhio@goth m@iii@g oii duck@com)",
            ),
            (
                "@@chmid1 @ending from @teven@@edu",
                "@@chmid1 @ending from @teven@@edu",
            ),
            // Not obfuscated: untouched.
            (
                "Ajay Shah <ajayshah@mayin.org>",
                "Ajay Shah <ajayshah@mayin.org>",
            ),
            (
                "\"Dirk Eddelbuettel\" <edd@debian.org>",
                "\"Dirk Eddelbuettel\" <edd@debian.org>",
            ),
            (
                "r-sig-finance-bounces@stat.math.ethz.ch",
                "r-sig-finance-bounces@stat.math.ethz.ch",
            ),
            ("j. <j..@....org>", "j. <j..@....org>"),
            ("unknown sender", "unknown sender"),
            ("Meet at noon", "Meet at noon"),
            (
                "John at Work <john@example.com>",
                "John at Work <john@example.com>",
            ),
            ("", ""),
        ] {
            assert_eq!(deobfuscate(value), want, "{value:?}");
        }
    }

    #[test]
    fn is_obfuscated_table() {
        for (value, want) in [
            ("edd at debian.org", true),
            ("edd at debian.org (Dirk Eddelbuettel)", true),
            ("@@chmid1 @ending from @teven@@edu", true),
            (
                "prof@@mit@mitt@l m@ili@g off gm@il@com (prof@@mit@mitt@l m@ili@g off gm@il@com)",
                true,
            ),
            ("borkrese@rch m@iii@g oii gm@ii@com", true),
            ("edd@debian.org", false),
            ("Dirk Eddelbuettel <edd@debian.org>", false),
            ("j.....", false),
            ("Meet at noon", false),
            ("", false),
        ] {
            assert_eq!(is_obfuscated(value), want, "{value:?}");
        }
    }

    #[test]
    fn parse_keeps_the_mangled_address_for_matching() {
        let got = parse_obfuscated("@@chmid1 @ending from @teven@@edu (Alec Schmidt)").unwrap();
        assert_eq!(
            got,
            Obfuscated {
                name: Some("Alec Schmidt".into()),
                address: None,
                mangled: Some("@@chmid1 @ending from @teven@@edu".into()),
            }
        );
    }

    /// Pairs of one author's mangled and real address, both from the archive.
    #[test]
    fn mangled_matches_table() {
        for (mangled, address, want) in [
            (
                "@@chmid1 @ending from @teven@@edu",
                "aschmid1@stevens.edu",
                true,
            ),
            (
                "bri@n @ending from br@verock@com",
                "brian@braverock.com",
                true,
            ),
            (
                "br|@n @end|ng |rom br@verock@com",
                "brian@braverock.com",
                true,
            ),
            (
                "e@ @end|ng |rom enr|co@chum@nn@net",
                "es@enricoschumann.net",
                true,
            ),
            ("edd @end|ng |rom deb|@n@org", "edd@debian.org", true),
            (
                "@c@rletm@il@rutger@@edu m@ili@g off gm@il@com",
                "x@gmail.com",
                false,
            ),
            (
                "borkrese@rch m@iii@g oii gm@ii@com",
                "borkresearch@gmail.com",
                true,
            ),
            ("edd @end|ng |rom deb|@n@org", "eddy@debian.org", false),
            ("edd @end|ng |rom deb|@n@org", "edd@debxan.org", false),
            (
                "bri@n @ending from br@verock@com",
                "brlan@braverock.com",
                false,
            ),
            ("edd at debian.org", "edd@debian.org", false),
        ] {
            assert_eq!(
                mangled_matches(mangled, address),
                want,
                "{mangled} ~ {address}"
            );
        }
    }

    #[test]
    fn roster_lines() {
        let line = super::parse_roster_line;
        assert_eq!(
            line("Jane Doe <Jane@NHS.net>"),
            Some(("Jane Doe".into(), "jane@nhs.net".into()))
        );
        assert_eq!(
            line("\"Doe, Jane\" <jane@nhs.net>"),
            Some(("Doe, Jane".into(), "jane@nhs.net".into()))
        );
        assert_eq!(
            line("jane@nhs.net (Jane Doe)"),
            Some(("Jane Doe".into(), "jane@nhs.net".into()))
        );
        assert_eq!(
            line("jane@nhs.net"),
            Some(("jane".into(), "jane@nhs.net".into()))
        );
        for bad in [
            "jane",
            "Jane <jane>",
            "a b@nhs.net",
            "@nhs.net",
            "x@y@nhs.net",
        ] {
            assert_eq!(line(bad), None, "{bad}");
        }
    }
}
