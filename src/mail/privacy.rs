//! Patient-identifiable data in a post: NHS numbers (ten digits whose last is the modulus-11
//! check digit of the first nine, written together or as 3-3-4 groups with spaces or hyphens)
//! and whatever patterns a forum adds (a hospital's record numbers, say). A post in which one
//! is found is held for a moderator before anything is published or sent. Pure: text in,
//! findings out.

use regex::{Regex, RegexSet};

/// Why a post is held, in words its author reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: String,
}

/// The checks of one forum: NHS numbers always, plus its own patterns.
#[derive(Debug, Clone)]
pub struct Screen {
    candidates: Regex,
    /// The forum's patterns: as a set to test, one by one to mask.
    extra: RegexSet,
    extra_each: Vec<Regex>,
}

impl Screen {
    /// A screen with the forum's extra patterns (already checked to compile by the config).
    pub fn new(extra: &[String]) -> Result<Screen, regex::Error> {
        Ok(Screen {
            // Ten digits, together or grouped 3-3-4, not inside a longer number.
            candidates: Regex::new(
                r"(?:^|[^0-9])([0-9]{3})[ \-]?([0-9]{3})[ \-]?([0-9]{4})(?:$|[^0-9])",
            )?,
            extra: RegexSet::new(extra)?,
            extra_each: extra
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// What in `subject` and `text` should hold the post, if anything.
    pub fn check(&self, subject: &str, text: &str) -> Option<Finding> {
        for part in [subject, text] {
            if let Some(number) = self.nhs_number(part) {
                return Some(Finding {
                    reason: format!(
                        "it seems to contain an NHS number ({}), which identifies a patient",
                        mask(&number)
                    ),
                });
            }
            if self.extra.is_match(part) {
                return Some(Finding {
                    reason: "it matches a pattern this forum holds for patient-identifiable \
                             data (such as a hospital record number)"
                        .to_owned(),
                });
            }
        }
        None
    }

    /// `text` with every NHS number masked and whatever a configured pattern matches replaced,
    /// for mail to moderators (which should not carry the identifier about).
    pub fn masked(&self, text: &str) -> String {
        let mut out = text.to_owned();
        while let Some(number) = self.nhs_number(&out) {
            let Some(c) = self.candidates.captures_iter(&out).find(|c| {
                (1..=3)
                    .filter_map(|i| c.get(i))
                    .map(|m| m.as_str())
                    .collect::<String>()
                    == number
            }) else {
                break;
            };
            let (Some(first), Some(last)) = (c.get(1), c.get(3)) else {
                break;
            };
            out.replace_range(first.start()..last.end(), &mask(&number));
        }
        for pattern in &self.extra_each {
            out = pattern.replace_all(&out, "[withheld]").into_owned();
        }
        out
    }

    /// The first valid NHS number in `text`, as its ten digits.
    fn nhs_number(&self, text: &str) -> Option<String> {
        // Overlapping candidates ("1234567890 123") need each start tried: step by hand.
        let mut at = 0;
        while let Some(c) = self.candidates.captures_at(text, at) {
            let digits: String = (1..=3)
                .filter_map(|i| c.get(i))
                .map(|m| m.as_str())
                .collect();
            if is_nhs_number(&digits) {
                return Some(digits);
            }
            let Some(first) = c.get(1) else { break };
            at = first.start() + 1;
            while !text.is_char_boundary(at) {
                at += 1;
            }
        }
        None
    }
}

/// Whether ten digits are a valid NHS number: weights 10 down to 2 on the first nine, the
/// check digit is 11 minus the sum modulo 11 (11 becomes 0; 10 is never issued).
pub fn is_nhs_number(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 10 || digits.len() != 10 {
        return false;
    }
    // Runs of one digit pass the arithmetic (0000000000) but are never issued.
    if d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == d[9]
}

/// A number shown with only its last three digits, so the explanation mail repeats no
/// identifier: "*** *** *919".
fn mask(digits: &str) -> String {
    let tail: String = digits.chars().skip(7).collect();
    format!("*** *** *{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> Screen {
        Screen::new(&[r"(?i)\bMRN:? ?[0-9]{7}\b".to_owned()]).unwrap()
    }

    #[test]
    fn valid_nhs_numbers_are_found_in_any_common_spacing() {
        // 943 476 5919 is the NHS's own published example of a valid number.
        assert!(is_nhs_number("9434765919"));
        for text in [
            "Patient 9434765919 seen today",
            "NHS no. 943 476 5919.",
            "943-476-5919",
            "(9434765919)",
            "9434765919",
        ] {
            let found = screen()
                .check("", text)
                .unwrap_or_else(|| panic!("missed {text:?}"));
            assert!(found.reason.contains("*** *** *919"), "{}", found.reason);
            assert!(!found.reason.contains("9434765919"));
        }
        assert!(
            screen().check("Re: 943 476 5919", "").is_some(),
            "in the subject too"
        );
    }

    #[test]
    fn other_ten_digit_numbers_are_not_held() {
        for text in [
            // Check digit wrong.
            "9434765918",
            // Would need check digit 10: never issued.
            "1000000010",
            // Part of a longer number (a phone number with its area code, an order number).
            "0094347659190",
            // Too few digits, a date, a phone number.
            "943476591",
            "Call 0113 243 2799 on 12/03/2027",
            "0000000000",
            "",
        ] {
            assert_eq!(screen().check("", text), None, "{text:?}");
        }
        assert!(!is_nhs_number("943476591x"));
        assert!(
            !is_nhs_number("９４３４７６５９１９"),
            "full-width digits are not ASCII digits"
        );
    }

    #[test]
    fn a_valid_number_after_an_invalid_overlap_is_found() {
        // "1234567890" is invalid; the valid number starts inside the same run of text.
        assert!(screen().check("", "ref 123 9434765919").is_some());
        assert!(screen().check("", "12 943 476 5919").is_some());
    }

    #[test]
    fn identifiers_are_masked_for_the_moderators_mail() {
        assert_eq!(
            screen().masked("Mrs K (943 476 5919, also 9434765919), MRN 1234567."),
            "Mrs K (*** *** *919, also *** *** *919), [withheld]."
        );
        assert_eq!(screen().masked("call 0113 243 2799"), "call 0113 243 2799");
    }

    #[test]
    fn configured_patterns_hold_too() {
        let found = screen()
            .check("", "Her MRN 1234567 is on the letter")
            .unwrap();
        assert!(found.reason.contains("pattern"), "{}", found.reason);
        assert_eq!(screen().check("", "no identifiers here"), None);
    }
}
