//! Who is mailed about a post: members' choices per interest and per thread, their delivery
//! setting, and their daily cap, decided the same way for host-mode copies and mirror-mode
//! notifications; and the signed link in every such mail that opens a member's preferences,
//! or unsubscribes in one click, without signing in.

use std::collections::BTreeSet;

use crate::store::{Audience, InterestId, InterestMode, UserId};

/// How long a preferences link in a mail keeps working.
pub const LINK_SECONDS: i64 = 90 * 86_400;

/// Whether a member gets a post by mail (else it waits for their digest).
///
/// A muted thread: never. A watched thread, or a watched interest of the post: yes. A muted
/// interest (none watched): no. Otherwise, in host mode, members who have not chosen yet (the
/// old list's members, `delivery = all`) get every post, as on the old list. The daily cap
/// turns the rest into digest items.
pub fn wants_mail(member: &Audience, interests: &BTreeSet<InterestId>, host: bool) -> bool {
    if member.delivery == "none" || member.thread.as_deref() == Some("mute") {
        return false;
    }
    let choice = |mode: InterestMode| {
        interests
            .iter()
            .any(|i| member.interests.get(i) == Some(&mode))
    };
    let wanted = if member.thread.as_deref() == Some("watch") || choice(InterestMode::Watch) {
        true
    } else if choice(InterestMode::Mute) {
        false
    } else {
        host && member.delivery == "all"
    };
    wanted && member.sent_today < member.daily_cap
}

/// The members to mail about a post, its author left out.
pub fn recipients(
    audience: &[Audience],
    interests: &BTreeSet<InterestId>,
    host: bool,
    author: Option<UserId>,
) -> Vec<(UserId, String)> {
    audience
        .iter()
        .filter(|m| Some(m.user) != author && wants_mail(m, interests, host))
        .map(|m| (m.user, m.address.clone()))
        .collect()
}

/// The link that opens a member's preferences without signing in; POSTing to it (RFC 8058)
/// unsubscribes them.
pub fn preferences_link(base_url: &str, secret: &[u8], user: UserId, now: i64) -> String {
    format!(
        "{base_url}/preferences/{}",
        crate::tokens::sign_member(secret, user.0, now + LINK_SECONDS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn member(delivery: &str, prefs: &[(i64, InterestMode)], thread: Option<&str>) -> Audience {
        Audience {
            user: UserId(1),
            address: "a@b.org".into(),
            delivery: delivery.into(),
            daily_cap: 50,
            sent_today: 0,
            interests: prefs
                .iter()
                .map(|(i, m)| (InterestId(*i), *m))
                .collect::<HashMap<_, _>>(),
            thread: thread.map(str::to_owned),
        }
    }

    #[test]
    fn choices_decide_in_order() {
        let asthma = InterestId(1);
        let xray = InterestId(2);
        let set = |ids: &[InterestId]| ids.iter().copied().collect::<BTreeSet<_>>();
        let watcher = member(
            "chosen",
            &[(1, InterestMode::Watch), (2, InterestMode::Mute)],
            None,
        );
        assert!(wants_mail(&watcher, &set(&[asthma]), true));
        assert!(!wants_mail(&watcher, &set(&[xray]), true), "muted");
        assert!(
            wants_mail(&watcher, &set(&[asthma, xray]), true),
            "watching wins over muting"
        );
        assert!(
            !wants_mail(&watcher, &set(&[]), true),
            "the rest goes to the digest"
        );
        let migrated = member("all", &[], None);
        assert!(wants_mail(&migrated, &set(&[]), true), "as on the old list");
        assert!(
            !wants_mail(&migrated, &set(&[]), false),
            "mirror: the old list sends it"
        );
        let muted_thread = member("all", &[(1, InterestMode::Watch)], Some("mute"));
        assert!(!wants_mail(&muted_thread, &set(&[asthma]), true));
        let watched_thread = member("chosen", &[(2, InterestMode::Mute)], Some("watch"));
        assert!(wants_mail(&watched_thread, &set(&[xray]), false));
        let mut capped = member("all", &[], None);
        capped.sent_today = 50;
        assert!(!wants_mail(&capped, &set(&[]), true), "over the daily cap");
        let gone = member("none", &[(1, InterestMode::Watch)], Some("watch"));
        assert!(!wants_mail(&gone, &set(&[asthma]), true), "unsubscribed");
    }
}
