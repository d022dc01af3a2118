//! A moderator's answer to the mail about a held post: the first word of what they wrote
//! decides ("approve", "reject: why"). Pure; the gate reads it, the forum carries it out.

/// What a moderator decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Publish it; a web post's text may be edited first.
    Approve {
        text: Option<String>,
    },
    Reject {
        reason: String,
    },
}

/// A moderator's answer by mail, read by its first word; None when it says neither.
pub fn decision_in(text: &str) -> Option<Decision> {
    let trimmed = text.trim_start();
    // The word is cut from the text itself: lowercasing may change its length in bytes
    // ('İ' is two bytes, its lowercase three), so no offset of the lowercased copy is used.
    let end = trimmed
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(trimmed.len(), |(i, _)| i);
    let word = trimmed[..end].to_lowercase();
    let rest = trimmed[end..]
        .trim_start_matches([':', '-', ',', '.', ' '])
        .trim();
    match word.as_str() {
        "approve" | "approved" | "publish" | "yes" => Some(Decision::Approve { text: None }),
        "reject" | "rejected" | "no" => Some(Decision::Reject {
            reason: if rest.is_empty() {
                "A moderator decided not to publish it.".to_owned()
            } else {
                rest.to_owned()
            },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderators_reply_is_read_by_its_first_word() {
        assert_eq!(
            decision_in("Approve\n\nThanks"),
            Some(Decision::Approve { text: None })
        );
        assert_eq!(
            decision_in("reject: please send it without the patient's number"),
            Some(Decision::Reject {
                reason: "please send it without the patient's number".to_owned()
            })
        );
        assert!(matches!(
            decision_in("Reject"),
            Some(Decision::Reject { .. })
        ));
        assert_eq!(decision_in("What is this?"), None);
        assert_eq!(decision_in(""), None);
    }

    #[test]
    fn words_that_change_length_when_lowercased_do_not_panic() {
        // Each of these once sliced the text at the lowercased word's length: past its end or
        // at a wrong place ('İ' grows), or inside a character ('ẞ', the Kelvin and Ångström
        // signs shrink).
        for text in [
            "İİİ ok",
            "ẞ: yes",
            "KKK",
            "ΣΑΣ reject",
            "İ",
            "İx: no",
            "ẞ reject",
            "\u{212A}o",
            "  \u{212A}: yes",
            "\u{212B}",
        ] {
            assert_eq!(decision_in(text), None, "{text}");
        }
        assert_eq!(
            decision_in("reject İstanbul clinic details"),
            Some(Decision::Reject {
                reason: "İstanbul clinic details".to_owned()
            })
        );
    }
}
