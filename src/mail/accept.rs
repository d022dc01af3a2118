//! What an incoming mail is, before anything is done with it: our own post coming back, a
//! bounce, an auto-reply, too large, a member's reply to a `reply+KEY` address, or an ordinary
//! post. Host mode decides from this whether to accept, explain a refusal (never silence for a
//! person, DESIGN "Who it is for"), or quietly drop a machine's mail, which must never be
//! answered: replying to an auto-reply or a bounce is how mail loops start.
//!
//! Only the raw bytes and the inbox settings decide; nothing is looked up here. The checks run
//! from the most certain to the least (see [`classify`]).

use mail_parser::{Addr, Message, MimeHeaders};

/// Which side of the list the bridge is on (see DESIGN "The flow").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The legacy list runs; everything arrives through it.
    Mirror,
    /// The bridge is the list.
    Host,
}

/// The addresses and limits incoming mail is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Inbox<'a> {
    pub mode: Mode,
    /// The key our own Message-IDs are signed with (`compose::own_message_id`).
    pub own_id_key: &'a [u8],
    /// Our From and X-Loop addresses.
    pub own_addresses: &'a [&'a str],
    /// Where new threads are mailed.
    pub list_address: &'a str,
    /// A template with `{key}`, e.g. `reply+{key}@lists.test`.
    pub reply_address: &'a str,
    /// A template with `{recipient}`, e.g. `bounces+{recipient}@lists.test`; the recipient is
    /// encoded VERP-style as `local=domain`.
    pub bounce_address: &'a str,
    pub max_bytes: usize,
}

/// What an incoming mail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Our own mail coming back: X-Loop is ours, or the Message-ID is at our domain.
    OwnEcho,
    /// A delivery failure report. `recipient` is the address that failed, when known;
    /// `permanent` for 5.x.x failures (and bounces that do not say).
    Bounce {
        recipient: Option<String>,
        permanent: bool,
    },
    /// Sent by a machine (out-of-office, vacation, bulk); the text names the signal.
    Automatic(&'static str),
    TooLarge,
    /// Addressed to the reply template; `key` is the `{key}` part, lowercase.
    Reply {
        key: String,
    },
    /// Anything else.
    Post,
}

/// Classifies a mail, parsed once by the caller (`mail::parse::mime`; None when it could not
/// be parsed at all, which makes it a plain post). Order: TooLarge, OwnEcho, Bounce, Automatic,
/// Reply, Post: our own echo before the rest because our notices carry automatic headers
/// themselves.
pub fn classify(message: Option<&Message<'_>>, inbox: &Inbox) -> Inbound {
    let Some(message) = message else {
        return Inbound::Post;
    };
    if message.raw_message().len() > inbox.max_bytes {
        return Inbound::TooLarge;
    }
    if is_own_echo(message, inbox) {
        return Inbound::OwnEcho;
    }
    if let Some(bounce) = bounce(message, inbox) {
        return bounce;
    }
    if let Some(signal) = automatic(message, inbox.mode) {
        return Inbound::Automatic(signal);
    }
    if let Some(key) = reply_key(message, inbox.reply_address) {
        return Inbound::Reply { key };
    }
    Inbound::Post
}

/// The From address, lowercased.
pub fn sender(message: &Message<'_>) -> Option<String> {
    message
        .from()?
        .first()?
        .address()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
}

/// Whether the whole new text of a reply is a like: `+1`, `like` or 👍 (any case, spacing,
/// punctuation, skin tone or repetition), so it can become a like instead of a post.
pub fn is_like(new_text: &str) -> bool {
    let squeezed: String = new_text
        .chars()
        .filter(|c| !c.is_whitespace() && !is_decoration(*c))
        .flat_map(char::to_lowercase)
        .collect();
    if squeezed == "+1" || squeezed == "like" {
        return true;
    }
    !squeezed.is_empty()
        && squeezed
            .chars()
            .all(|c| c == '👍' || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c))
        && squeezed.contains('👍')
}

/// Punctuation around a like (`+1!`, `Like.`) and the emoji variation selector; `+` is kept
/// because it is part of `+1`.
fn is_decoration(c: char) -> bool {
    (c.is_ascii_punctuation() && c != '+') || c == '\u{FE0F}' || c == '\u{200D}'
}

/// Why a mail was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The From address is not a member's.
    UnknownSender,
    /// The reply key belongs to someone other than the sender.
    KeyMismatch,
    KeyExpired,
    Empty,
    TooLarge,
    Automatic,
    Bounce,
    Loop,
    /// Sent to the bridge's own address (a reply to "Jane via SITE", an answer to a notice),
    /// not to the list: nobody reads it there.
    ToTheBridge,
    /// More posts from the address in the last hour than the list takes.
    TooMany {
        per_hour: u32,
    },
}

impl Refusal {
    /// A stable code for logs and the database.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownSender => "unknown-sender",
            Refusal::KeyMismatch => "key-mismatch",
            Refusal::KeyExpired => "key-expired",
            Refusal::Empty => "empty",
            Refusal::TooLarge => "too-large",
            Refusal::Automatic => "automatic",
            Refusal::Bounce => "bounce",
            Refusal::Loop => "loop",
            Refusal::ToTheBridge => "to-the-bridge",
            Refusal::TooMany { .. } => "too-many",
        }
    }

    /// Whether the sender gets an explanation. Machines never do: answering an auto-reply, a
    /// bounce or our own echo is how mail loops start.
    pub fn explained(&self) -> bool {
        !matches!(self, Refusal::Automatic | Refusal::Bounce | Refusal::Loop)
    }

    /// A polite explanation in plain words: what happened and what to do instead.
    pub fn explanation(&self, site: &str, list_address: &str) -> String {
        let body = match self {
            Refusal::UnknownSender => format!(
                "Your message was not posted, because the address you sent it from is not \
                 registered with {site}.\n\nIf you are a member, please send it again from the \
                 address you registered with, or add this address to your profile on {site} \
                 first. If you are not yet a member, you can join on the {site} website."
            ),
            Refusal::KeyMismatch => format!(
                "Your reply was not posted, because the reply address you used belongs to \
                 another member's copy of the message (perhaps it was forwarded to you).\n\n\
                 Please reply to your own copy of the message, or reply on the {site} website."
            ),
            Refusal::KeyExpired => format!(
                "Your reply was not posted, because the reply address in that message is no \
                 longer valid (it was sent a long time ago).\n\nPlease reply to a more recent \
                 message in the conversation, or reply on the {site} website. To start a new \
                 conversation, write to {list_address}."
            ),
            Refusal::Empty => format!(
                "Your message was not posted, because we could not find any new text in it.\n\n\
                 If you meant to write something, please send it again with your text above \
                 the quoted message. Attachments alone are not posted; you can add them on the \
                 {site} website."
            ),
            Refusal::TooLarge => format!(
                "Your message was not posted, because it is larger than {site} accepts \
                 (usually because of large attachments).\n\nPlease send it again with smaller \
                 or fewer attachments, or share a link to the files instead."
            ),
            Refusal::Automatic => format!(
                "Your message was not posted, because it looks like an automatic reply. \
                 Automatic replies are not shared with the members of {site}."
            ),
            Refusal::Bounce => format!(
                "This delivery report was not posted: reports go to the administrators of \
                 {site}, not to the members."
            ),
            Refusal::Loop => format!(
                "This message was not posted, because it had already passed through {site}."
            ),
            Refusal::ToTheBridge => format!(
                "Your message was not posted or passed on to anyone, because it was sent to \
                 {site}'s own address, which nobody reads.\n\nTo answer a member privately, \
                 write to them directly. To write to everyone, send it to {list_address}, or \
                 reply on the {site} website."
            ),
            Refusal::TooMany { per_hour } => format!(
                "Your message was not posted, because {site} takes at most {per_hour} messages \
                 an hour from one address, and more than that came from yours in the last \
                 hour.\n\nPlease send it again in an hour. If you did not send them, your \
                 address may be misused: please tell the administrators of {site}."
            ),
        };
        format!("{body}\n\nThank you, and sorry for the trouble.\n{site}\n")
    }
}

/// Our own mail: an X-Loop with one of our addresses (a header only list software writes), or a
/// Message-ID signed with our key (mirror mode's echo of a web post comes back through the
/// list, which may replace X-Loop). Never the Message-ID's domain alone: a member's client at
/// the forum's own organisation puts that domain in its ids.
fn is_own_echo(message: &Message<'_>, inbox: &Inbox) -> bool {
    let ours = |value: &str| {
        let value = bare_address(value);
        inbox
            .own_addresses
            .iter()
            .any(|own| own.trim().eq_ignore_ascii_case(&value))
    };
    if message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("X-Loop"))
        .filter_map(|h| raw_value(message, h))
        .any(|v| ours(&v))
    {
        return true;
    }
    !inbox.own_id_key.is_empty()
        && message
            .message_id()
            .is_some_and(|id| super::compose::is_own_message_id(inbox.own_id_key, id))
}

/// A header's raw value, unfolded.
fn raw_value(message: &Message<'_>, header: &mail_parser::Header<'_>) -> Option<String> {
    let raw = message.raw_message();
    let value = raw.get(header.offset_start() as usize..header.offset_end() as usize)?;
    Some(
        String::from_utf8_lossy(value)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Every raw value of a header, unfolded, in order.
fn raw_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| raw_value(message, h))
        .collect()
}

/// `Name <a@b>` or `<a@b>` or `a@b`: the address, lowercased.
fn bare_address(value: &str) -> String {
    let value = value.trim();
    let inner = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value,
    };
    inner.trim().to_lowercase()
}

fn bounce(message: &Message<'_>, inbox: &Inbox) -> Option<Inbound> {
    let verp = verp_recipient(message, inbox.bounce_address);
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if is_report {
        let report = delivery_status(message);
        if let Some(report) = &report
            && report.delivered
        {
            // A success notice (someone asked for a delivery receipt): nothing failed.
            return Some(Inbound::Automatic("delivery-report"));
        }
        let (recipient, permanent) = report.map_or((None, true), |r| (r.recipient, r.permanent));
        return Some(Inbound::Bounce {
            recipient: verp.or(recipient),
            permanent,
        });
    }
    if verp.is_some() {
        return Some(Inbound::Bounce {
            recipient: verp,
            permanent: true,
        });
    }
    let daemon = message
        .from()
        .and_then(|a| a.first())
        .and_then(Addr::address)
        .and_then(|a| a.split('@').next())
        .is_some_and(|local| {
            let local = local.to_ascii_lowercase();
            local == "mailer-daemon" || local == "postmaster"
        });
    let subject = message.subject().unwrap_or("").to_lowercase();
    if daemon && FAILURE_SUBJECTS.iter().any(|s| subject.contains(s)) {
        return Some(Inbound::Bounce {
            recipient: None,
            permanent: !TRANSIENT_SUBJECTS.iter().any(|s| subject.contains(s)),
        });
    }
    None
}

/// Subjects of bounces that are not in the DSN format (old qmail, Exchange, Exim, localised).
const FAILURE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "failure notice",
    "mail delivery failed",
    "returned mail",
    "delivery failed",
    "warning: could not send",
    "delayed mail",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "onbestelbaar",
    "olevererbart",
];

/// Of those, the ones that say the server is still trying.
const TRANSIENT_SUBJECTS: &[&str] = &["delayed", "delay", "warning", "still trying"];

/// The recipient a VERP bounce address encodes (`bounces+jane=gp.test@lists.test`), from the
/// envelope headers the receiving server adds first, then To and Cc.
fn verp_recipient(message: &Message<'_>, template: &str) -> Option<String> {
    let encoded = addressed_to(message)
        .iter()
        .find_map(|a| match_template(a, template, "{recipient}"))?;
    let (local, domain) = encoded.rsplit_once('=')?;
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}@{domain}"))
}

/// What the per-recipient part of a delivery-status report says.
struct DeliveryStatus {
    recipient: Option<String>,
    permanent: bool,
    delivered: bool,
}

/// Reads the message/delivery-status part (RFC 3464): the first recipient block that failed
/// (else the first one), its Final-Recipient and Status.
fn delivery_status(message: &Message<'_>) -> Option<DeliveryStatus> {
    let part = message.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let text = String::from_utf8_lossy(part.contents()).replace("\r\n", "\n");
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    for block in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        if fields.iter().any(|(n, _)| n == "final-recipient") {
            blocks.push(fields);
        }
    }
    let get = |block: &[(String, String)], name: &str| {
        block
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let failed = |block: &[(String, String)]| {
        get(block, "action").as_deref() == Some("failed")
            || get(block, "status").is_some_and(|s| s.starts_with('5'))
    };
    let chosen = blocks
        .iter()
        .find(|b| failed(b))
        .or_else(|| blocks.first())?;
    let recipient = get(chosen, "final-recipient").map(|v| {
        // `rfc822; jane@gp.test`: the address type comes first.
        let address = v.split_once(';').map_or(v.as_str(), |(_, a)| a);
        bare_address(address)
    });
    let status = get(chosen, "status").unwrap_or_default();
    let action = get(chosen, "action").unwrap_or_default();
    Some(DeliveryStatus {
        recipient: recipient.filter(|r| !r.is_empty()),
        permanent: status.starts_with('5') || (status.is_empty() && action == "failed"),
        delivered: status.starts_with('2')
            || ["delivered", "relayed", "expanded"].contains(&action.as_str()),
    })
}

/// Subjects auto-responders write (lowercase, at the start of the subject).
const AUTOMATIC_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto:",
    "autoreply",
    "auto-reply",
    "auto reply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "risposta automatica",
    "respuesta automática",
    "automatisch antwoord",
    "automatiskt svar",
    "autosvar",
];

/// Whether a mail (as a mirrored list delivers it) was sent by a machine, which is never
/// answered.
pub fn is_automatic(message: &Message<'_>) -> bool {
    automatic(message, Mode::Mirror).is_some()
}

/// The signal that marks a mail as sent by a machine, if any.
fn automatic(message: &Message<'_>, mode: Mode) -> Option<&'static str> {
    let first = |name: &str| raw_values(message, name).into_iter().next();
    // RFC 3834: anything but "no" is automatic.
    if let Some(value) = first("Auto-Submitted") {
        let kind = value.split(';').next().unwrap_or("").trim().to_lowercase();
        if !kind.is_empty() && kind != "no" {
            return Some("auto-submitted");
        }
    }
    if first("X-Autoreply").is_some() {
        return Some("x-autoreply");
    }
    if first("X-Autorespond").is_some() {
        return Some("x-autorespond");
    }
    // Exchange marks its own automatic mail with what it asks others not to answer.
    if let Some(value) = first("X-Auto-Response-Suppress") {
        let suppress = value
            .split(',')
            .any(|t| ["oof", "all"].contains(&t.trim().to_lowercase().as_str()));
        if suppress {
            return Some("x-auto-response-suppress");
        }
    }
    if let Some(value) = first("Precedence") {
        let value = value.trim().to_lowercase();
        // In mirror mode everything arrives through the legacy list, which marks its own
        // traffic `list` (Mailman) or `bulk` (older list servers): that is the archive, not
        // an auto-reply. Only a bulk mail that did not come through a list counts then.
        let through_list = first("List-Id").is_some() || first("List-Post").is_some();
        let automatic = match value.as_str() {
            "junk" => true,
            "bulk" => mode == Mode::Host || !through_list,
            "list" => mode == Mode::Host,
            _ => false,
        };
        if automatic {
            return Some("precedence");
        }
    }
    let subject = message.subject().unwrap_or("").trim_start().to_lowercase();
    if AUTOMATIC_SUBJECTS.iter().any(|s| subject.starts_with(s)) {
        return Some("subject");
    }
    None
}

/// The addresses a mail was delivered to (lowercased), most trustworthy first; the first
/// `trusted` of them come from our receiving server (Delivered-To, X-Original-To).
pub fn recipients(message: &Message<'_>) -> (Vec<String>, usize) {
    let all = addressed_to(message);
    let trusted = ["Delivered-To", "X-Original-To"]
        .iter()
        .map(|h| raw_values(message, h).len())
        .sum();
    (all, trusted)
}

/// The addresses a mail was delivered to, most trustworthy first: Delivered-To and
/// X-Original-To are written by our own receiving server from the envelope; To and Cc are
/// whatever the sender wrote.
fn addressed_to(message: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in ["Delivered-To", "X-Original-To"] {
        out.extend(raw_values(message, name).iter().map(|v| bare_address(v)));
    }
    for list in [message.to(), message.cc()].into_iter().flatten() {
        out.extend(
            list.iter()
                .filter_map(Addr::address)
                .map(|a| a.trim().to_lowercase()),
        );
    }
    out
}

/// The part of `address` that stands where `placeholder` stands in `template`, compared
/// without regard to case; None when the address does not fit or the part is empty.
fn match_template(address: &str, template: &str, placeholder: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once(placeholder)?;
    let address = address.to_lowercase();
    let inner = address
        .strip_prefix(&prefix.to_lowercase())?
        .strip_suffix(&suffix.to_lowercase())?;
    (!inner.is_empty() && !inner.contains(['@', ' ', '<', '>'])).then(|| inner.to_string())
}

fn reply_key(message: &Message<'_>, template: &str) -> Option<String> {
    addressed_to(message)
        .iter()
        .find_map(|a| match_template(a, template, "{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::mime;

    const OWN: &[&str] = &["forum@lists.test"];
    const KEY: &[u8] = b"site secret";

    fn inbox(mode: Mode) -> Inbox<'static> {
        Inbox {
            mode,
            own_id_key: KEY,
            own_addresses: OWN,
            list_address: "snug@lists.test",
            reply_address: "reply+{key}@lists.test",
            bounce_address: "bounces+{recipient}@lists.test",
            max_bytes: 4_000,
        }
    }

    const EXCHANGE_OOF: &str = "From: Dr Jane Doe <jane@gp.nhs.test>\r\n\
To: snug@lists.test\r\n\
Subject: Automatic reply: Spacers\r\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <oof1@gp.nhs.test>\r\n\
Auto-Submitted: auto-replied\r\n\
X-Auto-Response-Suppress: All\r\n\
X-MS-Exchange-Inbox-Rules-Loop: jane@gp.nhs.test\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
I am out of the office until Monday.\r\n";

    const GMAIL_VACATION: &str = "From: Bob <bob@gmail.test>\n\
To: snug@lists.test\n\
Subject: On holiday\n\
Message-ID: <CAvac@mail.gmail.test>\n\
Auto-Submitted: auto-replied\n\
Precedence: bulk\n\
\n\
Back on the 5th.\n";

    const OOF_BY_SUBJECT: &str = "From: c@x.test\nTo: snug@lists.test\n\
Subject: Abwesenheitsnotiz: Spacers\nMessage-ID: <a@x.test>\n\nWeg.\n";

    const AUTORESPOND: &str = "From: c@x.test\nTo: snug@lists.test\n\
Subject: Thanks\nX-Autorespond: yes\nMessage-ID: <b@x.test>\n\nThanks.\n";

    const AUTO_SUBMITTED_NO: &str = "From: c@x.test\nTo: snug@lists.test\n\
Subject: Real\nAuto-Submitted: no\nMessage-ID: <c@x.test>\n\nText.\n";

    const POSTFIX_DSN: &str = "Return-Path: <>\r\n\
From: MAILER-DAEMON@mx.lists.test (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: forum-bounces@lists.test\r\n\
Auto-Submitted: auto-replied\r\n\
Message-Id: <20240101100001.ABC@mx.lists.test.invalid>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"ABC.1704103201/mx.lists.test\"\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--ABC.1704103201/mx.lists.test\r\n\
Content-Description: Notification\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
I'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\
\r\n\
<gone@gp.test>: host mx.gp.test said: 550 5.1.1 User unknown\r\n\
\r\n\
--ABC.1704103201/mx.lists.test\r\n\
Content-Description: Delivery report\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.lists.test\r\n\
X-Postfix-Queue-ID: ABC\r\n\
Arrival-Date: Mon,  1 Jan 2024 10:00:00 +0000 (UTC)\r\n\
\r\n\
Final-Recipient: rfc822; Gone@gp.test\r\n\
Original-Recipient: rfc822;gone@gp.test\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Remote-MTA: dns; mx.gp.test\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@gp.test>: Recipient address rejected:\r\n\
    User unknown\r\n\
\r\n\
--ABC.1704103201/mx.lists.test\r\n\
Content-Description: Undelivered Message Headers\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: \"Jane via NHS Forum\" <forum@lists.test>\r\n\
Subject: Spacers\r\n\
\r\n\
--ABC.1704103201/mx.lists.test--\r\n";

    fn dsn(status: &str, action: &str) -> String {
        POSTFIX_DSN
            .replace("Status: 5.1.1", &format!("Status: {status}"))
            .replace("Action: failed", &format!("Action: {action}"))
    }

    const VERP_BOUNCE: &str = "From: postmaster@gp.test\n\
Delivered-To: bounces+jane=gp.test@lists.test\n\
To: bounces+jane=gp.test@lists.test\n\
Subject: failure notice\n\
Message-ID: <v1@gp.test>\n\
\n\
Hi. This is the qmail-send program. Sorry, I couldn't deliver.\n";

    const DAEMON_BOUNCE: &str = "From: Mail Delivery Subsystem <MAILER-DAEMON@gp.test>\n\
To: forum@lists.test\nSubject: Returned mail: see transcript for details\n\
Message-ID: <d1@gp.test>\n\nUser unknown.\n";

    const DAEMON_NOT_BOUNCE: &str = "From: postmaster@gp.test\n\
To: snug@lists.test\nSubject: Server maintenance on Friday\n\
Message-ID: <d2@gp.test>\n\nHello all.\n";

    const REPLY_DELIVERED_TO: &str = "Delivered-To: reply+AbC123@lists.test\n\
From: Jane <jane@gp.test>\n\
To: \"NHS Forum\" <forum@lists.test>\n\
Subject: Re: Spacers\n\
Message-ID: <r1@gp.test>\n\
In-Reply-To: <lb.x@lists.test>\n\
\n\
Agreed.\n";

    const REPLY_TO_HEADER: &str = "From: Jane <jane@gp.test>\n\
To: Jane via NHS Forum <Reply+XyZ@Lists.Test>\n\
Cc: bob@gp.test\n\
Subject: Re: Spacers\n\
Message-ID: <r2@gp.test>\n\
\n\
Agreed.\n";

    const REPLY_IN_CC: &str = "From: Jane <jane@gp.test>\n\
To: bob@gp.test\n\
Cc: reply+k9@lists.test\n\
Subject: Re: Spacers\n\
Message-ID: <r3@gp.test>\n\
\n\
Agreed.\n";

    const LIST_MAIL: &str = "From: Jane <jane@gp.test>\n\
To: snug@oldlist.test\n\
Subject: [SNUG] Spacers\n\
Message-ID: <l1@gp.test>\n\
List-Id: SNUG <snug.oldlist.test>\n\
Precedence: list\n\
\n\
Question.\n";

    const OLD_LIST_BULK: &str = "From: Jane <jane@gp.test>\n\
To: snug@oldlist.test\n\
Subject: Spacers\n\
Message-ID: <l2@gp.test>\n\
List-Id: <snug.oldlist.test>\n\
Precedence: bulk\n\
\n\
Question.\n";

    const NEW_THREAD: &str = "From: Jane <jane@gp.test>\n\
To: snug@lists.test\n\
Subject: Spacers\n\
Message-ID: <n1@gp.test>\n\
\n\
Question.\n";

    const ECHO_BY_X_LOOP: &str = "From: \"Jane via NHS Forum\" <forum@lists.test>\n\
To: snug@oldlist.test\n\
Subject: Spacers\n\
Message-ID: <other@oldlist.test>\n\
X-Loop: Forum@Lists.Test\n\
Precedence: list\n\
\n\
Question.\n";

    /// Our web post as the old list sends it back: its Message-ID is ours (`{id}`), its X-Loop
    /// the list's.
    const ECHO_BY_ID: &str = "From: \"Jane via NHS Forum\" <forum@lists.test>\n\
To: snug@oldlist.test\n\
Subject: [SNUG] Spacers\n\
Message-ID: <{id}>\n\
X-Loop: snug@oldlist.test\n\
\n\
Question.\n";

    #[test]
    fn classify_table() {
        let large = format!("{NEW_THREAD}{}", "x".repeat(5_000));
        let delayed = dsn("4.4.1", "delayed");
        let delivered = dsn("2.0.0", "delivered");
        let bounce = |recipient: Option<&str>, permanent| Inbound::Bounce {
            recipient: recipient.map(str::to_string),
            permanent,
        };
        let reply = |key: &str| Inbound::Reply { key: key.into() };
        let ours = crate::mail::compose::own_message_id(KEY, &[3; 16], "Lists.Test");
        let echo_by_id = ECHO_BY_ID.replace("{id}", &ours);
        // A member at the forum's own organisation: their client's id is at our domain.
        let member_at_our_domain = REPLY_TO_HEADER.replace("r2@gp.test", "CAF3x9@lists.test");
        let unsigned_at_our_domain = ECHO_BY_ID.replace("{id}", "lb.abcdef@Lists.Test");
        let forged = ECHO_BY_ID.replace("{id}", &ours.replacen(".", ".a", 2));
        use Inbound::*;
        use Mode::*;
        let cases: Vec<(&str, &str, Mode, Inbound)> = vec![
            (
                "exchange oof",
                EXCHANGE_OOF,
                Host,
                Automatic("auto-submitted"),
            ),
            (
                "gmail vacation",
                GMAIL_VACATION,
                Mirror,
                Automatic("auto-submitted"),
            ),
            ("oof by subject", OOF_BY_SUBJECT, Host, Automatic("subject")),
            (
                "x-autorespond",
                AUTORESPOND,
                Host,
                Automatic("x-autorespond"),
            ),
            ("auto-submitted no", AUTO_SUBMITTED_NO, Host, Post),
            (
                "postfix dsn",
                POSTFIX_DSN,
                Host,
                bounce(Some("gone@gp.test"), true),
            ),
            (
                "postfix dsn mirror",
                POSTFIX_DSN,
                Mirror,
                bounce(Some("gone@gp.test"), true),
            ),
            (
                "postfix delay",
                &delayed,
                Host,
                bounce(Some("gone@gp.test"), false),
            ),
            (
                "dsn success",
                &delivered,
                Host,
                Automatic("delivery-report"),
            ),
            (
                "verp bounce",
                VERP_BOUNCE,
                Host,
                bounce(Some("jane@gp.test"), true),
            ),
            ("daemon bounce", DAEMON_BOUNCE, Host, bounce(None, true)),
            ("daemon, not a bounce", DAEMON_NOT_BOUNCE, Host, Post),
            (
                "reply via delivered-to",
                REPLY_DELIVERED_TO,
                Host,
                reply("abc123"),
            ),
            ("reply via to", REPLY_TO_HEADER, Host, reply("xyz")),
            ("reply via cc", REPLY_IN_CC, Host, reply("k9")),
            ("list mail mirror", LIST_MAIL, Mirror, Post),
            ("list mail host", LIST_MAIL, Host, Automatic("precedence")),
            ("old list bulk mirror", OLD_LIST_BULK, Mirror, Post),
            (
                "old list bulk host",
                OLD_LIST_BULK,
                Host,
                Automatic("precedence"),
            ),
            ("new thread", NEW_THREAD, Host, Post),
            ("echo by x-loop", ECHO_BY_X_LOOP, Mirror, OwnEcho),
            ("echo by message-id", &echo_by_id, Mirror, OwnEcho),
            ("echo by message-id host", &echo_by_id, Host, OwnEcho),
            (
                "a member's reply with an id at our domain",
                &member_at_our_domain,
                Host,
                reply("xyz"),
            ),
            (
                "an unsigned id at our domain",
                &unsigned_at_our_domain,
                Mirror,
                Post,
            ),
            ("a forged tag", &forged, Host, Post),
            ("too large", &large, Host, TooLarge),
            ("empty input", "", Host, Post),
        ];
        for (name, raw, mode, want) in cases {
            assert_eq!(
                classify(mime(raw.as_bytes()).as_ref(), &inbox(mode)),
                want,
                "case {name}"
            );
        }
    }

    #[test]
    fn delivered_to_is_trusted_before_to() {
        // The envelope says which copy this is; a To header naming someone else's key (a
        // forwarded copy) must not win.
        let raw = REPLY_DELIVERED_TO.replace(
            "To: \"NHS Forum\" <forum@lists.test>",
            "To: reply+other@lists.test",
        );
        assert_eq!(
            classify(mime(raw.as_bytes()).as_ref(), &inbox(Mode::Host)),
            Inbound::Reply {
                key: "abc123".into()
            }
        );
    }

    #[test]
    fn sender_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (REPLY_TO_HEADER, Some("jane@gp.test")),
            (EXCHANGE_OOF, Some("jane@gp.nhs.test")),
            ("From: JANE@GP.TEST\n\nx", Some("jane@gp.test")),
            ("To: a@b\n\nx", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                mime(raw.as_bytes()).as_ref().and_then(sender).as_deref(),
                *want,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn like_table() {
        let cases: &[(&str, bool)] = &[
            ("+1", true),
            (" +1 \n", true),
            ("+1!", true),
            ("+ 1", true),
            ("Like", true),
            ("LIKE.", true),
            ("  like!!  ", true),
            ("👍", true),
            ("👍🏽", true),
            ("👍👍", true),
            ("👍\u{FE0F}", true),
            ("1", false),
            ("+2", false),
            ("likes", false),
            ("I like this", false),
            ("+1, and also the dose matters", false),
            ("", false),
            ("!!", false),
            ("👎", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_like(text), *want, "{text:?}");
        }
    }

    #[test]
    fn refusals() {
        let all = [
            Refusal::UnknownSender,
            Refusal::KeyMismatch,
            Refusal::KeyExpired,
            Refusal::Empty,
            Refusal::TooLarge,
            Refusal::Automatic,
            Refusal::Bounce,
            Refusal::Loop,
        ];
        let codes: Vec<&str> = all.iter().map(Refusal::code).collect();
        assert_eq!(
            codes,
            [
                "unknown-sender",
                "key-mismatch",
                "key-expired",
                "empty",
                "too-large",
                "automatic",
                "bounce",
                "loop"
            ]
        );
        let explained: Vec<bool> = all.iter().map(Refusal::explained).collect();
        assert_eq!(
            explained,
            [true, true, true, true, true, false, false, false]
        );
        for refusal in all {
            let text = refusal.explanation("NHS Forum", "snug@lists.test");
            assert!(text.contains("NHS Forum"), "{text}");
            assert!(text.ends_with("NHS Forum\n"), "{text}");
        }
        assert!(
            Refusal::KeyExpired
                .explanation("NHS Forum", "snug@lists.test")
                .contains("snug@lists.test")
        );
    }
}
