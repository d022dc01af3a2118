//! Posting and the bridge's own mail: a web post stored in the archive and queued for the list
//! and for the members who want it (each copy with their own reply and unsubscribe addresses),
//! or held for a moderator when it carries a patient identifier; notices to one address
//! (sign-in links, explanations, likes). Everything here only writes the store and its outbox;
//! the outbound worker sends (DESIGN.md invariant 6).

use crate::archive::{Archived, Incoming, Prepared, archive_one};
use crate::config::{Config, ListConfig, ListMode, OutboundConfig};
use crate::mail::compose::{self, Identity, ListInfo, Notice};
use crate::store::{
    Derived, InterestTagger, ListId, NewRecipient, OutboxId, OutboxKind, Quoted, Store, StoreError,
    ThreadId, UserId, Writer,
};

use super::{PostError, moderators, notify};

/// A post written on the web.
#[derive(Debug, Clone)]
pub struct Draft {
    pub user: UserId,
    pub author_name: String,
    /// The list of a new thread (a reply goes to its parent's list).
    pub list: String,
    /// The Message-ID replied to, for a reply.
    pub parent: Option<String>,
    /// A new thread's subject.
    pub subject: String,
    /// The text, in light formatting.
    pub text: String,
    /// A moderator approved it after it was held: it is not checked again.
    pub approved: bool,
}

/// The bridge's identity in mail.
pub fn identity<'a>(config: &'a Config, out: &'a OutboundConfig) -> Identity<'a> {
    Identity {
        site_name: &config.web.site_name,
        from_address: &out.from_address,
        base_url: &config.web.base_url,
    }
}

/// The List-* headers' facts of a list.
pub fn list_info<'a>(config: &'a Config, list: &'a ListConfig, address: &'a str) -> ListInfo<'a> {
    ListInfo {
        name: &list.name,
        description: list.description.as_deref(),
        address,
        archive_url: format!("{}/l/{}", config.web.base_url, list.name),
        // One-click unsubscribe (RFC 8058) needs a per-member signed link; until members have
        // delivery preferences there is nothing for it to change, so no List-Unsubscribe yet.
        unsubscribe_url: None,
    }
}

/// Stores a web post in the archive (it shows at once) and queues it: to the list's address in
/// mirror mode, to every other member in host mode. One transaction: the post is either
/// archived and queued, or neither. Returns its Message-ID.
pub fn post_from_web(
    store: &mut Store,
    config: &Config,
    draft: &Draft,
    now: i64,
) -> Result<String, PostError> {
    post_with(store, config, draft, None, now, |_, _, _| Ok(())).map(|(id, ())| id)
}

/// [`post_from_web`], carrying `calendar` in the mail, with `also` done in the same
/// transaction once the post is archived (given the list and the post's Message-ID): an
/// event is created with the thread that announces it, or not at all.
pub fn post_with<T>(
    store: &mut Store,
    config: &Config,
    draft: &Draft,
    calendar: Option<compose::CalendarPart<'_>>,
    now: i64,
    also: impl FnOnce(&Writer<'_>, ListId, &str) -> Result<T, StoreError>,
) -> Result<(String, T), PostError> {
    let out = config.outbound.as_ref().ok_or(PostError::NotConfigured)?;
    if draft.text.trim().is_empty() {
        return Err(PostError::Empty);
    }
    let parent = match &draft.parent {
        Some(id) => Some(store.reply_target(id)?.ok_or(PostError::NoSuchParent)?),
        None => None,
    };
    let list_name = parent
        .as_ref()
        .map_or(draft.list.as_str(), |p| p.post.list.as_str());
    // The same rule as every read (a private list for its roster and the moderators), whatever
    // form the draft came from; the refusal reads as for a list or post that does not exist.
    // An approved draft was checked when it was held.
    if !draft.approved
        && store
            .hidden_lists(Some(draft.user), &config.private_lists())?
            .iter()
            .any(|hidden| hidden == list_name)
    {
        return Err(match parent {
            Some(_) => PostError::NoSuchParent,
            None => PostError::NoSuchList(list_name.to_owned()),
        });
    }
    if !draft.approved
        && let Some(finding) = config.privacy_screen().check(&draft.subject, &draft.text)
    {
        hold_draft(store, config, draft, &finding.reason, now)?;
        return Err(PostError::Held(finding.reason));
    }
    let list = config
        .lists
        .iter()
        .find(|l| l.name == list_name)
        .ok_or_else(|| PostError::NoSuchList(list_name.to_owned()))?;
    let address = list
        .address
        .as_deref()
        .ok_or_else(|| PostError::NoAddress(list.name.clone()))?;
    let message_id = compose::own_message_id(
        &store.site_secret()?,
        &crate::tokens::random_bytes(),
        out.domain(),
    );
    let subject = match &parent {
        Some(p) => compose::reply_subject(p.post.subject.as_deref().unwrap_or("")),
        None => draft.subject.trim().to_owned(),
    };
    let references = parent
        .as_ref()
        .map(|p| compose::references_for(&p.post.message_id, &p.references))
        .unwrap_or_default();
    let permalink = format!("{}/m/{}", config.web.base_url, message_id);
    let bytes = compose::compose_post(
        &compose::Post {
            message_id: &message_id,
            date: now,
            author_name: &draft.author_name,
            subject: &subject,
            in_reply_to: parent.as_ref().map(|p| p.post.message_id.as_str()),
            references: &references,
            text: &draft.text,
            permalink: Some(&permalink),
            calendar,
        },
        &list_info(config, list, address),
        &identity(config, out),
    )?;
    let list_id = store.list_id(&list.name)?;
    let tagger = store.tagger()?;
    let run = store.begin_run("web post", now)?;
    let writer = store.writer(run)?;
    // The post row first: deriving then files it under its real author.
    writer.record_post(&message_id, draft.user, "web", None, now)?;
    let thread = archive(
        &writer,
        list_id,
        &bytes,
        &format!("web:{}", draft.user.0),
        config,
        &list.name,
        &tagger,
    )?;
    writer.watch_own_thread(draft.user, &message_id, thread)?;
    let extra = also(&writer, list_id, &message_id)?;
    let host = list.mode == ListMode::Host;
    // Members who want it by mail: in host mode the post's only way to them; in mirror mode
    // the list sends it, and watchers get their own copy with a reply address.
    let copies = send_copies(
        &writer,
        config,
        list_id,
        address,
        &message_id,
        thread,
        &bytes,
        Some(draft.user),
        host,
        now,
    )?;
    let outbox = match list.mode {
        ListMode::Mirror => writer.enqueue(
            OutboxKind::Post,
            &message_id,
            Some(list_id),
            &bytes,
            &[NewRecipient {
                address: address.to_owned(),
                reply_to: None,
                unsubscribe: None,
            }],
            now,
        )?,
        ListMode::Host => copies,
    };
    writer.set_post_outbox(&message_id, outbox)?;
    writer.commit()?;
    Ok((message_id, extra))
}

/// Keeps a web post for a moderator instead of posting it.
fn hold_draft(
    store: &mut Store,
    config: &Config,
    draft: &Draft,
    reason: &str,
    now: i64,
) -> Result<(), PostError> {
    let list_name = match &draft.parent {
        Some(id) => {
            store
                .reply_target(id)?
                .ok_or(PostError::NoSuchParent)?
                .post
                .list
        }
        None => draft.list.clone(),
    };
    if !config.lists.iter().any(|l| l.name == list_name) {
        return Err(PostError::NoSuchList(list_name));
    }
    let list = store.list_id(&list_name)?;
    let run = store.begin_run("held post", now)?;
    let writer = store.writer(run)?;
    let id = writer.hold(
        &crate::store::NewHeld {
            kind: crate::store::HeldKind::Web {
                parent: draft.parent.clone(),
            },
            list,
            user: Some(draft.user),
            author_name: Some(&draft.author_name),
            sender: None,
            subject: &draft.subject,
            body: &draft.text,
            reason,
        },
        now,
    )?;
    moderators::tell_moderators(
        &writer,
        config,
        &moderators::HeldNews {
            id,
            list: &list_name,
            author: &draft.author_name,
            subject: &draft.subject,
            text: &draft.text,
            reason,
        },
        now,
    )?;
    writer.commit()?;
    Ok(())
}

/// Stores composed bytes in the archive and derives them; the thread they joined.
fn archive(
    writer: &Writer<'_>,
    list: ListId,
    bytes: &[u8],
    origin: &str,
    config: &Config,
    list_name: &str,
    tagger: &InterestTagger,
) -> Result<ThreadId, StoreError> {
    let mail = Prepared::new(
        Incoming {
            bytes: bytes.to_vec(),
            envelope: None,
            origin: origin.to_owned(),
        },
        &config.render_options(list_name),
        0,
    );
    match archive_one(writer, list, &mail, tagger)? {
        Archived::Stored(
            Derived::Message(key) | Derived::Copy(key) | Derived::Renamed { key, .. },
        ) => writer.thread_of_key(key),
        Archived::Stored(Derived::Unparseable(reason)) => {
            unreachable!("a composed post parses: {reason}")
        }
        // Its Message-ID is fresh: no erasure can have named it, no moderator hidden it.
        Archived::Stored(Derived::Erased | Derived::Hidden) => {
            unreachable!("a new Message-ID is neither erased nor hidden")
        }
        // A fresh Message-ID and Date make these bytes new; equal bytes would be a bug upstream.
        Archived::NotStored(_) => unreachable!("a composed post is always new"),
    }
}

/// Queues the copies of a post for the members who want it by mail (their interests and
/// threads, their delivery setting and daily cap; its author never), each with their own
/// one-click unsubscribe link, and records what each was sent, for digests. In host mode each
/// copy's reply address carries a key that proves, when a reply comes back, which member
/// answers which thread; in mirror mode replies go to the list itself, as the old list's own
/// copies would have them.
pub fn send_copies(
    writer: &Writer<'_>,
    config: &Config,
    list: ListId,
    list_address: &str,
    message_id: &str,
    thread: ThreadId,
    bytes: &[u8],
    author: Option<UserId>,
    host: bool,
    now: i64,
) -> Result<OutboxId, StoreError> {
    let Some(out) = config.outbound.as_ref() else {
        return writer.enqueue(OutboxKind::Copy, message_id, Some(list), bytes, &[], now);
    };
    let interests = writer.thread_interest_ids(thread)?;
    let audience = writer.audience(thread, &interests, &config.private_lists(), now)?;
    let members = notify::recipients(&audience, &interests, host, author);
    let secret = writer.site_secret()?;
    let expires = now + i64::from(out.reply_key_days) * 86_400;
    let mut recipients = Vec::with_capacity(members.len());
    for (user, address) in &members {
        let reply_to = if host {
            let key = crate::tokens::new_reply_key();
            writer.add_reply_key(
                &crate::tokens::hash(&key),
                *user,
                message_id,
                thread,
                expires,
            )?;
            out.reply_address.replace("{key}", &key)
        } else {
            list_address.to_owned()
        };
        recipients.push(NewRecipient {
            address: address.clone(),
            reply_to: Some(reply_to),
            unsubscribe: Some(notify::preferences_link(
                &config.web.base_url,
                &secret,
                *user,
                now,
            )),
        });
    }
    let users: Vec<UserId> = members.iter().map(|(u, _)| *u).collect();
    writer.record_notifications(&users, message_id, "post", now)?;
    writer.enqueue(
        OutboxKind::Copy,
        message_id,
        Some(list),
        bytes,
        &recipients,
        now,
    )
}

/// Queues a notice from the bridge (a sign-in link, an explanation) to one address.
pub fn queue_notice(
    writer: &Writer<'_>,
    config: &Config,
    to: &str,
    subject: &str,
    text: &str,
    in_reply_to: Option<&str>,
    now: i64,
) -> Result<OutboxId, PostError> {
    let mail = OneMail {
        to,
        subject,
        text,
        in_reply_to,
        reply_to: None,
        calendar: None,
    };
    queue_mail(writer, config, mail, now)
}

/// A mail from the bridge to one person.
pub struct OneMail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// The message it answers (then it is marked as an automatic reply).
    pub in_reply_to: Option<&'a str>,
    /// Where the recipient's replies should go, when not to the bridge's own address.
    pub reply_to: Option<&'a str>,
    /// A calendar update to attach.
    pub calendar: Option<compose::CalendarPart<'a>>,
}

/// Queues a mail from the bridge to one person.
pub fn queue_mail(
    writer: &Writer<'_>,
    config: &Config,
    mail: OneMail<'_>,
    now: i64,
) -> Result<OutboxId, PostError> {
    let out = config.outbound.as_ref().ok_or(PostError::NotConfigured)?;
    let message_id = compose::own_message_id(
        &writer.site_secret()?,
        &crate::tokens::random_bytes(),
        out.domain(),
    );
    let bytes = compose::compose_notice(
        &Notice {
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            message_id: &message_id,
            date: now,
            in_reply_to: mail.in_reply_to,
            auto_submitted: if mail.in_reply_to.is_some() {
                "auto-replied"
            } else {
                "auto-generated"
            },
            calendar: mail.calendar,
        },
        &identity(config, out),
    )?;
    Ok(writer.enqueue(
        OutboxKind::Notice,
        &message_id,
        None,
        &bytes,
        &[NewRecipient {
            address: mail.to.to_owned(),
            reply_to: mail.reply_to.map(str::to_owned),
            unsubscribe: None,
        }],
        now,
    )?)
}

/// Mails a one-time sign-in link.
pub fn send_sign_in_link(
    store: &mut Store,
    config: &Config,
    address: &str,
    link: &str,
    new_account: bool,
    now: i64,
) -> Result<(), PostError> {
    let site = &config.web.site_name;
    let text = format!(
        "Hello,\n\nSomeone (we hope you) asked to {} {site} with this address.\n\
         Open this link within an hour to continue:\n\n{link}\n\n\
         The link works once. If you did not ask for it, ignore this mail: nothing happens.\n\n\
         -- \n{site}\n",
        if new_account { "join" } else { "sign in to" },
    );
    let run = store.begin_run("notice", now)?;
    let writer = store.writer(run)?;
    queue_notice(
        &writer,
        config,
        address,
        &format!("Your sign-in link for {site}"),
        &text,
        None,
        now,
    )?;
    writer.commit()?;
    Ok(())
}

/// Tells a post's author that a member liked it, when they asked to hear of likes.
pub fn tell_author_of_like(
    store: &mut Store,
    config: &Config,
    liker: UserId,
    message_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    if config.outbound.is_none() {
        return Ok(());
    }
    let Some((author, address, subject)) = store.like_audience(message_id)? else {
        return Ok(());
    };
    if author == liker {
        return Ok(());
    }
    let name = store
        .user(liker)?
        .map_or_else(|| "A member".to_owned(), |u| u.display_name);
    let link = format!("{}/m/{}", config.web.base_url, message_id);
    let text = format!(
        "{name} liked your post \"{}\":\n{link}\n\nYou get these because you asked to hear of likes; \
         change that under \"Your mail\" on {}.\n",
        subject.trim(),
        config.web.site_name
    );
    let run = store.begin_run("notice", now)?;
    let writer = store.writer(run)?;
    writer.record_notifications(
        &[author],
        &format!("{message_id}#like-{}", liker.0),
        "like",
        now,
    )?;
    match queue_notice(
        &writer,
        config,
        &address,
        &format!("{name} liked your post"),
        &text,
        None,
        now,
    ) {
        Ok(outbox) => writer.record_quotes(outbox, &[Quoted::Message(message_id)])?,
        Err(PostError::NotConfigured) => {}
        Err(PostError::Store(e)) => return Err(e),
        Err(e) => tracing::warn!(error = %e, "no like notice could be queued"),
    }
    writer.commit()
}
