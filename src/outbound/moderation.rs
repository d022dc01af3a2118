//! The moderators' mail about a held post: why it is held, its text with the identifier
//! masked, and a reply address of its own, so that a moderator who lives in their mail can
//! answer "approve" or "reject" and a reason, as Mailman's moderation requests work.

use crate::config::Config;
use crate::mail::compose::{self, Notice};
use crate::store::{HeldId, NewRecipient, OutboxKind, Writer};

use super::{PostError, identity};

/// What the moderators are told about a held post.
pub struct HeldNews<'a> {
    pub id: HeldId,
    pub list: &'a str,
    pub author: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub reason: &'a str,
}

/// Mails every moderator about a held post, with the reply address that decides it.
pub fn tell_moderators(
    writer: &Writer<'_>,
    config: &Config,
    held: &HeldNews<'_>,
    now: i64,
) -> Result<(), PostError> {
    let Some(out) = config.outbound.as_ref() else {
        return Ok(());
    };
    let moderators = writer.moderators()?;
    if moderators.is_empty() {
        return Ok(());
    }
    let key = crate::tokens::new_reply_key();
    writer.set_moderation_key(held.id, &crate::tokens::hash(&key))?;
    let screen = config.privacy_screen();
    let site = &config.web.site_name;
    let text = format!(
        "A post to {list} by {author} is held, because {reason}.\n\n\
         Subject: {subject}\n\n{body}\n\n\
         To publish it as it is, reply to this mail with the word \"approve\".\n\
         To reject it, reply with \"reject\" and, after it, the reason its author will read.\n\
         Or decide on the web, where a web post can be corrected first: {base}/admin/held\n\n\
         (The identifier is masked here; the full text is on the web.)\n\n-- \n{site}\n",
        list = held.list,
        author = held.author,
        reason = held.reason,
        subject = screen.masked(held.subject),
        body = screen.masked(held.text.trim()),
        base = config.web.base_url,
    );
    let subject = format!(
        "Held for moderation: {}",
        screen.masked(held.subject.trim())
    );
    let reply_to = out.reply_address.replace("{key}", &key);
    for (_, address) in moderators {
        let message_id = compose::new_message_id(&crate::tokens::random_bytes(), out.domain());
        let bytes = compose::compose_notice(
            &Notice {
                to: &address,
                subject: &subject,
                text: &text,
                message_id: &message_id,
                date: now,
                in_reply_to: None,
                auto_submitted: "auto-generated",
                calendar: None,
            },
            &identity(config, out),
        )?;
        writer.enqueue(
            OutboxKind::Notice,
            &message_id,
            None,
            &bytes,
            &[NewRecipient {
                address,
                reply_to: Some(reply_to.clone()),
                unsubscribe: None,
            }],
            now,
        )?;
    }
    Ok(())
}

/// A moderator's answer by mail: the first word of what they wrote decides.
pub fn decision_in(text: &str) -> Option<crate::ingest::held::Decision> {
    use crate::ingest::held::Decision;
    let trimmed = text.trim_start();
    let word: String = trimmed
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    let rest = trimmed[word.len()..]
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
    use crate::ingest::held::Decision;

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
}
