//! Holding fetched mail for a moderator: a post that carries patient-identifiable data, or (in
//! host mode, when the list asks for it) one from an address that is not a member's. It is kept
//! raw with the reason, nothing archived or sent, and its sender and the moderators are told.

use crate::archive::Prepared;
use crate::mail::accept;
use crate::store::{ListId, StoreError, UserId, Writer};

use super::Gate;

impl Gate {
    /// Holds an admitted post that carries patient-identifiable data for a moderator (kept raw,
    /// nothing archived or sent) and tells its author why. True when held.
    pub(super) fn hold_if_identifying(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        p: &Prepared,
        author: Option<UserId>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (Some(screen), Ok(parsed)) = (&self.screen, &p.parsed) else {
            return Ok(false);
        };
        // The list's copy of a web post was checked (or approved) when it was written.
        if let Some(id) = &parsed.message_id
            && writer.is_own_post(id)?
        {
            return Ok(false);
        }
        let subject = parsed.subject.as_deref().unwrap_or("");
        let Some(finding) = screen.check(subject, &parsed.body_text) else {
            return Ok(false);
        };
        tracing::info!("a post with patient-identifiable data is held for a moderator");
        self.hold_mail(
            writer,
            list,
            p,
            author,
            &finding.reason,
            "If it does contain a patient's details, you need do nothing: a moderator will \
             reject it.",
            now,
        )?;
        Ok(true)
    }

    /// Keeps a mail for a moderator (raw, nothing archived or sent) and tells its sender and
    /// the moderators why (`advice` ends the sender's mail).
    pub(super) fn hold_mail(
        &self,
        writer: &Writer<'_>,
        list: ListId,
        p: &Prepared,
        author: Option<UserId>,
        reason: &str,
        advice: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let Ok(parsed) = &p.parsed else {
            return Ok(());
        };
        let subject = parsed.subject.as_deref().unwrap_or("");
        let sender = p.message.as_ref().and_then(accept::sender);
        let id = writer.hold(
            &crate::store::NewHeld {
                kind: crate::store::HeldKind::Mail {
                    raw: p.item.bytes.clone(),
                    origin: p.item.origin.clone(),
                },
                list,
                user: author,
                author_name: parsed.from_name.as_deref(),
                sender: sender.as_deref(),
                subject,
                body: &parsed.body_text,
                reason,
            },
            now,
        )?;
        let author_name = parsed
            .from_name
            .clone()
            .or(sender.clone())
            .unwrap_or_else(|| "someone".to_owned());
        match crate::forum::moderators::tell_moderators(
            writer,
            &self.config,
            &crate::forum::moderators::HeldNews {
                id,
                list: &self.list,
                author: &author_name,
                subject,
                text: &parsed.body_text,
                reason,
            },
            now,
        ) {
            Ok(()) => {}
            Err(crate::forum::PostError::Store(e)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "the moderators could not be told of a held post"),
        }
        if let Some(sender) = &sender
            && !p.message.as_ref().is_some_and(accept::is_automatic)
        {
            // Named by its subject, masked: the mail outlives the decision.
            let subject = self.config.privacy_screen().masked(subject.trim());
            let fate = if self.is_host() {
                "was not published or sent to anyone"
            } else {
                "was delivered by the list but is not published in the web archive"
            };
            let text = format!(
                "Hello,\n\nYour message \"{}\" to {} {fate}, because {}.\n\n\
                 A moderator will review it and publish it, or tell you why not. {advice}\n\n\
                 -- \n{}\n",
                subject, self.list, reason, self.config.web.site_name
            );
            match crate::forum::queue_notice(
                writer,
                &self.config,
                sender,
                &format!("Held for a moderator: {subject}"),
                &text,
                parsed.message_id.as_deref(),
                now,
            ) {
                Ok(outbox) => writer.record_quotes(outbox, &[crate::store::Quoted::Held(id)])?,
                Err(crate::forum::PostError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "the author of a held post could not be told"),
            }
        }
        Ok(())
    }
}
