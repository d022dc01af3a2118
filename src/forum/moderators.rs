//! The moderators' mail about a held post: why it is held, its text with the identifier
//! masked, and a reply address of its own, so that a moderator who lives in their mail can
//! answer "approve" or "reject" and a reason, as Mailman's moderation requests work. Also their
//! mail about a post members flagged (or flags hid): who flagged it and why, and a link; never
//! the post's text, which may be the very thing it was flagged for.

use crate::config::{Config, OutboundConfig};
use crate::store::{HeldId, Quoted, UserId, Writer};

use super::PostError;

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
    let Some((out, moderators)) = moderators_to_tell(writer, config)? else {
        return Ok(());
    };
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
    mail_moderators(
        writer,
        config,
        &moderators,
        &subject,
        &text,
        Some(&reply_to),
        &[Quoted::Held(held.id)],
        now,
    )
}

/// What the moderators are told about a flagged post.
pub struct FlagNews<'a> {
    /// The flagged post (the notice quotes its subject and the flagger's note).
    pub message_id: &'a str,
    pub list: &'a str,
    pub author: &'a str,
    pub subject: &'a str,
    /// The member who flagged it, their reason and note.
    pub by: &'a str,
    pub reason: &'a str,
    pub note: Option<&'a str>,
    /// How many members' flags are open on it.
    pub open: u32,
    /// The flags have just hidden it.
    pub hidden: bool,
    pub link: &'a str,
}

/// Mails every moderator that a post was flagged (once when it enters the queue, again when
/// flags hide it): decided on the web.
pub fn tell_moderators_of_flag(
    writer: &Writer<'_>,
    config: &Config,
    news: &FlagNews<'_>,
    now: i64,
) -> Result<(), PostError> {
    let Some((_, moderators)) = moderators_to_tell(writer, config)? else {
        return Ok(());
    };
    let screen = config.privacy_screen();
    let site = &config.web.site_name;
    let state = if news.hidden {
        format!(
            "{} members have flagged it, so it is hidden until a moderator decides.",
            news.open
        )
    } else {
        "It is still shown.".to_owned()
    };
    let note = news
        .note
        .map(|n| format!("Their note: {}\n\n", screen.masked(n.trim())))
        .unwrap_or_default();
    let text = format!(
        "{by} flagged a post to {list} by {author} as {reason}.\n\n\
         Subject: {subject}\n\n{note}{state}\n\n\
         Read it and hide it, or dismiss the flags, on the web: {base}/admin/held\n\
         The post: {base}{link}\n\n-- \n{site}\n",
        by = news.by,
        list = news.list,
        author = news.author,
        reason = news.reason,
        subject = screen.masked(news.subject.trim()),
        base = config.web.base_url,
        link = news.link,
    );
    let subject = format!(
        "{}: {}",
        if news.hidden {
            "Hidden by members' flags"
        } else {
            "Flagged"
        },
        screen.masked(news.subject.trim())
    );
    mail_moderators(
        writer,
        config,
        &moderators,
        &subject,
        &text,
        None,
        &[Quoted::Message(news.message_id)],
        now,
    )
}

/// The moderators with an address: (member, address).
type Moderators = Vec<(UserId, String)>;

/// The outbound settings and the moderators to mail; `None` when the forum sends no mail or
/// has no moderator with an address.
fn moderators_to_tell<'c>(
    writer: &Writer<'_>,
    config: &'c Config,
) -> Result<Option<(&'c OutboundConfig, Moderators)>, PostError> {
    let Some(out) = config.outbound.as_ref() else {
        return Ok(None);
    };
    let moderators = writer.moderators()?;
    Ok((!moderators.is_empty()).then_some((out, moderators)))
}

/// One notice to each moderator, recorded as quoting what it quotes.
#[allow(clippy::too_many_arguments)]
fn mail_moderators(
    writer: &Writer<'_>,
    config: &Config,
    moderators: &[(UserId, String)],
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
    quoted: &[Quoted<'_>],
    now: i64,
) -> Result<(), PostError> {
    for (_, address) in moderators {
        let mail = super::OneMail {
            to: address,
            subject,
            text,
            in_reply_to: None,
            reply_to,
            calendar: None,
        };
        let outbox = super::queue_mail(writer, config, mail, now)?;
        writer.record_quotes(outbox, quoted)?;
    }
    Ok(())
}
