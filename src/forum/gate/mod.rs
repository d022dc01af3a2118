//! The gate between the mailbox and the archive: what each fetched mail is (the pure
//! `mail::accept` classifier) and what the bridge does with it. In host mode the bridge is the
//! list: a member's new thread or reply (proved by their `reply+KEY` address and sender) is
//! archived and fanned out to the other members; anything else is kept raw in the inbound log
//! for moderators, and its sender gets one polite explanation per reason and day (never an
//! auto-generated sender). In both modes bounces are counted against the address that failed
//! and auto-replies are logged, not published. All of it happens in the batch's transaction, so
//! the IMAP cursor, the archive, the log and the queued copies land together or not at all.
//! Holding a post for a moderator is `hold`'s.

mod hold;

use crate::archive::{Admit, HeldDecision, Prepared, Verdict};
use crate::config::{Config, ListMode};
use crate::mail::accept::{self, Inbound, Inbox, Mode, Refusal};
use crate::mail::calendar::Method;
use crate::mail::decision::{Decision, decision_in};
use crate::store::{EventId, InboundAction, ListId, MessageKey, StoreError, UserId, Writer};

/// The gate of one list.
pub struct Gate {
    config: std::sync::Arc<Config>,
    list: String,
    mode: ListMode,
    /// What holds a post for a moderator; None when a moderator released it.
    screen: Option<crate::mail::privacy::Screen>,
    /// A moderator approved the mail passing: it is published even from a non-member.
    released: bool,
}

impl Gate {
    /// The gate of `list`, when the bridge sends mail (without `[outbound]` every fetched mail
    /// is list mail, as before).
    pub fn new(config: std::sync::Arc<Config>, list: &str) -> Option<Gate> {
        config.outbound.as_ref()?;
        let mode = config
            .lists
            .iter()
            .find(|l| l.name == list)
            .map_or(ListMode::Mirror, |l| l.mode);
        Some(Gate {
            screen: Some(config.privacy_screen().clone()),
            released: false,
            config,
            list: list.to_owned(),
            mode,
        })
    }

    /// The gate a moderator's approved mail passes: as any other, but not held again.
    pub fn releasing(config: std::sync::Arc<Config>, list: &str) -> Option<Gate> {
        Gate::new(config, list).map(|g| Gate {
            screen: None,
            released: true,
            ..g
        })
    }

    /// The configuration this gate decides by.
    pub fn config(&self) -> &std::sync::Arc<Config> {
        &self.config
    }

    pub fn is_host(&self) -> bool {
        self.mode == ListMode::Host
    }

    /// What a fetched mail is and what becomes of it, before the privacy screen.
    fn classify(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        p: &Prepared,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let out = self
            .config
            .outbound
            .as_ref()
            .expect("a gate has [outbound]");
        let list_config = self.config.lists.iter().find(|l| l.name == self.list);
        let list_address = list_config.and_then(|l| l.address.as_deref()).unwrap_or("");
        let own = [out.from_address.as_str()];
        // The bridge's own mail is told by the tag its Message-IDs carry, keyed with this.
        let own_id_key = writer.site_secret()?;
        let inbox = Inbox {
            mode: match self.mode {
                ListMode::Mirror => Mode::Mirror,
                ListMode::Host => Mode::Host,
            },
            own_id_key: &own_id_key,
            own_addresses: &own,
            list_address,
            reply_address: &out.reply_address,
            bounce_address: &out.bounce_address,
            max_bytes: (out.max_message_mb as usize) << 20,
        };
        let bytes = &p.item.bytes;
        let message = p.message.as_ref();
        let sender = message.and_then(accept::sender);
        let parsed = p.parsed.as_ref().ok();
        let subject = parsed.and_then(|m| m.subject.clone());
        let log = |action, reason: &str| {
            writer.log_inbound(
                &p.sha,
                bytes,
                list,
                &p.item.origin,
                sender.as_deref(),
                subject.as_deref(),
                action,
                reason,
                now,
            )
        };
        let refuse = |refusal| self.refuse(writer, p, sender.as_deref(), refusal, &log, now);
        // The member the From address belongs to, if any.
        let member = || match sender.as_deref() {
            Some(s) => writer.member_of(s),
            None => Ok(None),
        };
        let host = self.mode == ListMode::Host;
        let (recipients, trusted) = message.map(accept::recipients).unwrap_or_default();
        let to_bridge = |address: &str| {
            recipients[..trusted]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(address))
        };
        let to_list = recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(list_address));
        // Whatever a list distributed says so (RFC 2919): that is list traffic even when the
        // bridge's own address is the one subscribed.
        let from_a_list = message.is_some_and(|m| m.header("List-Id").is_some());
        let private = !to_list && !from_a_list && to_bridge(&out.from_address);
        let class = match accept::classify(message, &inbox) {
            // Calendar services mark their invitations and answers as automatic (Google's
            // carry Auto-Submitted), but they are a person's invitation or answer.
            Inbound::Automatic(_) if !p.calendars.is_empty() => Inbound::Post,
            class => class,
        };
        // A moderator's answer to the mail about a held post decides it.
        if let Inbound::Reply { key } = &class
            && let Some(held) = writer.held_by_moderation_key(&crate::tokens::hash(key))?
        {
            let moderator = member()?;
            let Some(moderator) = moderator.filter(|m| writer.is_moderator(*m).unwrap_or(false))
            else {
                log(
                    InboundAction::Refused,
                    "an answer about a held post from someone who is not a moderator",
                )?;
                return Ok(Verdict::Logged);
            };
            let text = parsed.map_or("", |m| m.body_text.as_str());
            let Some(decision) = decision_in(text) else {
                log(
                    InboundAction::Dropped,
                    "a moderator's answer without \"approve\" or \"reject\" first: nothing done",
                )?;
                return Ok(Verdict::Logged);
            };
            let what = match &decision {
                Decision::Approve { .. } => "approve",
                Decision::Reject { .. } => "reject",
            };
            log(
                InboundAction::Dropped,
                &format!("a moderator's answer: {what} held post {}", held.0),
            )?;
            return Ok(Verdict::Decided(HeldDecision {
                held,
                moderator,
                decision,
            }));
        }
        // A member's answer from their calendar takes or gives up their place; it is not a
        // post (and never a bounce's quoted original).
        if !matches!(class, Inbound::OwnEcho | Inbound::Bounce { .. }) {
            let replies: Vec<_> = p
                .calendars
                .iter()
                .filter(|c| c.method == Method::Reply)
                .cloned()
                .collect();
            if !replies.is_empty() {
                // The answerer: the From address. Only when From is the list's own address
                // (a list that rewrites From for DMARC) does the REPLY's ATTENDEE line name
                // the member who answered: anyone can write an ATTENDEE line, so a stranger's
                // mail must not take or give up a member's place.
                let mut answerer = None;
                let rewritten = sender.as_deref().is_some_and(|s| {
                    let list = self.list_address();
                    !list.is_empty() && s.eq_ignore_ascii_case(&list)
                });
                let attendees = replies
                    .iter()
                    .filter(|_| rewritten)
                    .flat_map(|c| c.events.iter())
                    .flat_map(|(_, attendees)| attendees.iter().map(|a| a.address.clone()));
                for address in sender.clone().into_iter().chain(attendees) {
                    if let Some(user) = writer.member_of(&address)? {
                        answerer = Some((user, address));
                        break;
                    }
                }
                let Some((user, address)) = answerer else {
                    return refuse(Refusal::UnknownSender);
                };
                let done =
                    super::events::answer(writer, &self.config, user, &address, &replies, now)?;
                log(InboundAction::Dropped, &done)?;
                return Ok(Verdict::Logged);
            }
        }
        match class {
            Inbound::OwnEcho => {
                let ours = parsed
                    .and_then(|m| m.message_id.as_deref())
                    .map(|id| writer.is_own_post(id))
                    .transpose()?
                    .unwrap_or(false);
                if ours {
                    // The list's copy of a web post: derive marks it delivered.
                    Ok(Verdict::Archive)
                } else {
                    log(
                        InboundAction::Dropped,
                        "loop: the bridge's own mail came back",
                    )?;
                    Ok(Verdict::Logged)
                }
            }
            Inbound::Bounce {
                recipient,
                permanent,
            } => {
                if let Some(address) = &recipient {
                    let paused =
                        writer.record_bounce(address, permanent, out.hard_bounce_limit, now)?;
                    if paused {
                        tracing::warn!(
                            "delivery to an address is paused after repeated hard bounces"
                        );
                    }
                }
                log(
                    InboundAction::Bounce,
                    if permanent {
                        "bounce (permanent)"
                    } else {
                        "bounce (temporary)"
                    },
                )?;
                Ok(Verdict::Logged)
            }
            Inbound::Automatic(why) => {
                log(InboundAction::Dropped, &format!("auto-generated: {why}"))?;
                Ok(Verdict::Logged)
            }
            Inbound::TooLarge if host => refuse(Refusal::TooLarge),
            Inbound::Reply { key } if host => {
                let found = writer.reply_key(&crate::tokens::hash(&key))?;
                let Some((user, post, _thread, expires)) = found else {
                    return refuse(Refusal::KeyMismatch);
                };
                let sender_user = member()?;
                if sender_user != Some(user) {
                    return refuse(Refusal::KeyMismatch);
                }
                if expires <= now {
                    return refuse(Refusal::KeyExpired);
                }
                self.accept_post(
                    writer,
                    p,
                    sender.as_deref(),
                    list,
                    user,
                    Some(&post),
                    &log,
                    now,
                )
            }
            // Mail to the bridge's own address (a reply to "Jane via SITE" meant for Jane, an
            // answer to a notice) is private: never published, in either mode.
            // Its sender is told, so nothing vanishes silently.
            Inbound::Post if private || (host && !to_list) => {
                let first_time = log(
                    InboundAction::Dropped,
                    "sent to the bridge's own address, not to the list",
                )?;
                if first_time {
                    self.explain(writer, p, sender.as_deref(), Refusal::ToTheBridge, now)?;
                }
                Ok(Verdict::Logged)
            }
            Inbound::Post | Inbound::Reply { .. } | Inbound::TooLarge if host => {
                let member = member()?;
                let hold_strangers = self
                    .config
                    .lists
                    .iter()
                    .any(|l| l.name == self.list && l.hold_unknown_senders);
                match member {
                    Some(user) => {
                        self.accept_post(writer, p, sender.as_deref(), list, user, None, &log, now)
                    }
                    None if self.released => Ok(Verdict::Publish { author: None }),
                    None if hold_strangers
                        && let Some(refusal) = self.too_many(writer, sender.as_deref(), now)? =>
                    {
                        refuse(refusal)
                    }
                    None if hold_strangers && p.parsed.is_ok() => {
                        let join = format!(
                            "To post without waiting in future, join at {}/signin with this address.",
                            self.config.web.base_url
                        );
                        self.hold_mail(
                            writer,
                            list,
                            p,
                            None,
                            "it comes from an address that is not a member's",
                            &join,
                            now,
                        )?;
                        Ok(Verdict::Logged)
                    }
                    None => refuse(Refusal::UnknownSender),
                }
            }
            // Mirror mode: the legacy list decided; its traffic is archived as it comes.
            Inbound::Post | Inbound::Reply { .. } | Inbound::TooLarge => Ok(Verdict::Archive),
        }
    }

    fn accept_post(
        &self,
        writer: &Writer<'_>,
        p: &Prepared,
        sender: Option<&str>,
        list: ListId,
        user: UserId,
        replying_to: Option<&str>,
        log: &dyn Fn(InboundAction, &str) -> Result<bool, StoreError>,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let empty = p
            .parsed
            .as_ref()
            .map_or(true, |m| m.body_text.trim().is_empty());
        if empty {
            return self.refuse(writer, p, sender, Refusal::Empty, log, now);
        }
        if let Some(refusal) = self.too_many(writer, sender, now)? {
            return self.refuse(writer, p, sender, refusal, log, now);
        }
        // A reply whose whole new text is "+1" or "like" is a like of the post it answers.
        if let Ok(m) = &p.parsed
            && accept::is_like(&m.body_text)
            && let Some(parent) = m.in_reply_to.as_deref().or(replying_to)
            // The post a reply key was given for, or a post of this list: a like never
            // reaches across into a list the member may not read.
            && (if Some(parent) == replying_to {
                writer.message_exists(parent)?
            } else {
                writer.message_in_list(parent, list)?
            })
        {
            writer.add_like(user, parent, now)?;
            log(
                InboundAction::Dropped,
                "a like (+1) by mail, counted on the post",
            )?;
            return Ok(Verdict::Logged);
        }
        Ok(Verdict::Publish { author: Some(user) })
    }

    /// The refusal due when an address has sent the list more than it takes in an hour.
    fn too_many(
        &self,
        writer: &Writer<'_>,
        sender: Option<&str>,
        now: i64,
    ) -> Result<Option<Refusal>, StoreError> {
        let per_hour = self
            .config
            .lists
            .iter()
            .find(|l| l.name == self.list)
            .map_or(0, |l| l.posts_per_hour);
        let Some(sender) = sender.filter(|_| per_hour > 0 && !self.released) else {
            return Ok(None);
        };
        let recent = writer.posts_from_since(sender, now - 3600)?;
        Ok((recent >= per_hour).then_some(Refusal::TooMany { per_hour }))
    }

    fn refuse(
        &self,
        writer: &Writer<'_>,
        p: &Prepared,
        sender: Option<&str>,
        refusal: Refusal,
        log: &dyn Fn(InboundAction, &str) -> Result<bool, StoreError>,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        if log(InboundAction::Refused, refusal.code())? {
            self.explain(writer, p, sender, refusal, now)?;
        }
        Ok(Verdict::Logged)
    }

    /// The address of this gate's list, as configured (empty when none is).
    fn list_address(&self) -> String {
        self.config
            .lists
            .iter()
            .find(|l| l.name == self.list)
            .and_then(|l| l.address.clone())
            .unwrap_or_default()
    }

    /// Answers the sender of a mail that was not published, once a day per reason, unless the
    /// refusal is one a machine's mail gets.
    fn explain(
        &self,
        writer: &Writer<'_>,
        p: &Prepared,
        sender: Option<&str>,
        refusal: Refusal,
        now: i64,
    ) -> Result<(), StoreError> {
        let list_address = self.list_address();
        // A list that rewrites From sends its own address: the list itself is never answered.
        if refusal.explained()
            && let Some(sender) = sender
            && !sender.eq_ignore_ascii_case(&list_address)
            && writer.explanation_due(sender, refusal.code(), now)?
        {
            let subject = p
                .parsed
                .as_ref()
                .ok()
                .and_then(|m| m.subject.clone())
                .unwrap_or_default();
            let text = refusal.explanation(&self.config.web.site_name, &list_address);
            let in_reply_to = p.parsed.as_ref().ok().and_then(|m| m.message_id.clone());
            match super::queue_notice(
                writer,
                &self.config,
                sender,
                &format!("Not published: {}", subject.trim()),
                &text,
                in_reply_to.as_deref(),
                now,
            ) {
                Ok(_) => writer.mark_explained(&p.sha)?,
                Err(super::PostError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "no explanation could be queued"),
            }
        }
        Ok(())
    }

    /// Tells the members with a place that their event changed or was cancelled.
    fn event_changed(
        &self,
        writer: &Writer<'_>,
        event: EventId,
        cancelled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        match super::events::tell_registrants(writer, &self.config, event, cancelled, now) {
            Ok(()) => Ok(()),
            Err(super::PostError::Store(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "members could not be told of an event's change");
                Ok(())
            }
        }
    }

    /// The members' copies of a newly archived post: in host mode everyone who wants it (the
    /// post is published through the bridge: recorded as the member's), in mirror mode those
    /// who watch its thread or interests (the list itself sends it to the others).
    fn copies(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        p: &Prepared,
        key: MessageKey,
        author: Option<UserId>,
        now: i64,
    ) -> Result<(), StoreError> {
        let out = self
            .config
            .outbound
            .as_ref()
            .expect("a gate has [outbound]");
        let Some(list_config) = self.config.lists.iter().find(|l| l.name == self.list) else {
            return Ok(());
        };
        let Some(address) = list_config.address.as_deref() else {
            return Ok(());
        };
        let Ok(parsed) = p.parsed.as_ref() else {
            return Ok(());
        };
        let Some(message_id) = parsed.message_id.as_deref() else {
            return Ok(());
        };
        let name = match author {
            Some(a) => writer.member_name(a)?,
            None => None,
        }
        .or(parsed.from_name.clone())
        .or(parsed.from_addr.clone())
        .unwrap_or_else(|| "A member".to_owned());
        let bytes = match crate::mail::compose::redistribute(
            &p.item.bytes,
            &name,
            &super::list_info(&self.config, list_config, address),
            &super::identity(&self.config, out),
        ) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "a post could not be prepared for the members");
                return Ok(());
            }
        };
        let thread = writer.thread_of_key(key)?;
        let host = self.is_host();
        if host && let Some(author) = author {
            writer.record_post(message_id, author, "mail", None, now)?;
            writer.watch_own_thread(author, message_id, thread)?;
        }
        let outbox = super::send_copies(
            writer,
            &self.config,
            list,
            address,
            message_id,
            thread,
            &bytes,
            author,
            host,
            now,
        )?;
        if host && author.is_some() {
            writer.set_post_outbox(message_id, outbox)?;
        }
        Ok(())
    }
}

impl Admit for Gate {
    fn admit(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        mail: &Prepared,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let verdict = self.classify(writer, list, mail, now)?;
        let author = match &verdict {
            Verdict::Archive => None,
            Verdict::Publish { author } => *author,
            Verdict::Logged | Verdict::Decided(_) => return Ok(verdict),
        };
        if self.hold_if_identifying(writer, list, mail, author, now)? {
            return Ok(Verdict::Logged);
        }
        Ok(verdict)
    }

    fn archived(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        mail: &Prepared,
        key: MessageKey,
        verdict: &Verdict,
        events_changed: &[(EventId, bool)],
        now: i64,
    ) -> Result<(), StoreError> {
        // Mirror mode: the list distributed a member's "+1" (or "like", a thumbs-up) to a post:
        // archived raw as list mail, it counts as their like instead of a post, as in host mode.
        if !self.is_host()
            && matches!(verdict, Verdict::Archive)
            && let Ok(m) = &mail.parsed
            && accept::is_like(&m.body_text)
            && let Some(parent) = m.in_reply_to.as_deref()
            && writer.message_in_list(parent, list)?
            && let Some(sender) = mail.message.as_ref().and_then(accept::sender)
            && let Some(user) = writer.member_of(&sender)?
            && writer.like_by_mail(key, user, parent, now)?
        {
            return Ok(());
        }
        let (author, publish) = match verdict {
            Verdict::Publish { author } => (*author, true),
            _ => (None, false),
        };
        if publish || !self.is_host() {
            self.copies(writer, list, mail, key, author, now)?;
        }
        for &(event, cancelled) in events_changed {
            self.event_changed(writer, event, cancelled, now)?;
        }
        Ok(())
    }
}
