//! Digests: for each member due one (daily or weekly, at the hour they chose), the posts of the
//! period they were not mailed, grouped by interest (muted interests and threads left out, the
//! most-liked first), as one mail with a text and an HTML part and the member's own one-click
//! unsubscribe link.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{Datelike, TimeZone, Utc};

use crate::config::Config;
use crate::mail::compose::{self, Notice};
use crate::store::{
    DigestFilter, DigestMember, DigestPost, InterestMode, NewRecipient, OutboxKind, Quoted, Store,
    StoreError, ThreadId,
};

/// The start of the digest slot a member is in at `now` (the last time their digest fell
/// due), and the period it covers.
pub fn slot(member: &DigestMember, now: i64) -> (i64, i64) {
    let now_dt = Utc.timestamp_opt(now, 0).single().unwrap_or_default();
    let today = now_dt
        .date_naive()
        .and_hms_opt(member.hour.min(23), 0, 0)
        .map_or(now, |d| d.and_utc().timestamp());
    let daily = if today <= now { today } else { today - 86_400 };
    if member.digest == "weekly" {
        // Counted back from the latest daily slot, whose day may be yesterday.
        let slot_day = Utc.timestamp_opt(daily, 0).single().unwrap_or_default();
        let weekday = i64::from(slot_day.weekday().number_from_monday());
        let wanted = i64::from(member.weekday.clamp(1, 7));
        let mut at = daily - ((weekday - wanted).rem_euclid(7)) * 86_400;
        if at > now {
            at -= 7 * 86_400;
        }
        (at, 7 * 86_400)
    } else {
        (daily, 86_400)
    }
}

/// Whether a member's digest is due at `now`, and from when it reaches back.
pub fn due(member: &DigestMember, now: i64) -> Option<i64> {
    let (at, period) = slot(member, now);
    match member.last {
        Some(last) if last >= at => None,
        Some(last) => Some(last.max(at - period)),
        None => Some(at - period),
    }
}

/// A thread in a digest.
struct Item<'a> {
    thread: ThreadId,
    posts: Vec<&'a DigestPost>,
    likes: u64,
}

/// The member's digest: per interest (by name; "Other" last), the threads with posts for them.
fn choose<'a>(
    posts: &'a [DigestPost],
    interests: &std::collections::HashMap<ThreadId, Vec<crate::store::InterestId>>,
    names: &std::collections::HashMap<crate::store::InterestId, String>,
    filter: &DigestFilter,
) -> BTreeMap<(bool, String), Vec<Item<'a>>> {
    let mut threads: BTreeMap<ThreadId, Item<'a>> = BTreeMap::new();
    for p in posts {
        if filter.mailed.contains(p.post.message_id.as_str())
            || filter.muted_threads.contains(&p.post.thread)
            || filter.hidden_lists.contains(&p.post.list)
            || p.author
                .address
                .as_deref()
                .is_some_and(|a| filter.own_addresses.contains(&a.to_lowercase()))
        {
            continue;
        }
        let tags = interests
            .get(&p.post.thread)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let muted = tags
            .iter()
            .any(|t| filter.interests.get(t) == Some(&InterestMode::Mute));
        let watched = tags
            .iter()
            .any(|t| filter.interests.get(t) == Some(&InterestMode::Watch));
        if muted && !watched {
            continue;
        }
        let item = threads.entry(p.post.thread).or_insert_with(|| Item {
            thread: p.post.thread,
            posts: Vec::new(),
            likes: 0,
        });
        item.likes += p.likes;
        item.posts.push(p);
    }
    let mut groups: BTreeMap<(bool, String), Vec<Item<'a>>> = BTreeMap::new();
    for (_, item) in threads {
        let tags = interests.get(&item.thread).cloned().unwrap_or_default();
        // A thread goes under its first interest the member has not muted.
        let group = tags
            .iter()
            .find(|t| filter.interests.get(t) != Some(&InterestMode::Mute))
            .and_then(|t| names.get(t))
            .map_or((true, "Other threads".to_owned()), |n| (false, n.clone()));
        groups.entry(group).or_default().push(item);
    }
    for items in groups.values_mut() {
        items.sort_by(|a, b| {
            b.likes
                .cmp(&a.likes)
                .then(b.posts.len().cmp(&a.posts.len()))
                .then(a.thread.cmp(&b.thread))
        });
    }
    groups
}

use crate::mail::sanitize::escape_markup as escape;

/// The digest's text and HTML.
fn render(
    config: &Config,
    groups: &BTreeMap<(bool, String), Vec<Item<'_>>>,
    period: &str,
    preferences: &str,
) -> (String, String) {
    let base = &config.web.base_url;
    let mut text = format!("Your {period} digest from {}\n\n", config.web.site_name);
    let mut html = format!(
        "<h1>Your {period} digest from {}</h1>\n",
        escape(&config.web.site_name)
    );
    for ((_, name), items) in groups {
        let _ = writeln!(text, "== {name} ==\n");
        let _ = writeln!(html, "<h2>{}</h2>\n<ul>", escape(name));
        for item in items {
            let first = item.posts[0];
            let subject = first
                .post
                .subject
                .clone()
                .unwrap_or_else(|| "(no subject)".into());
            let link = format!("{base}/t/{}", item.thread.0);
            let count = item.posts.len();
            let likes = if item.likes > 0 {
                format!(
                    ", {} like{}",
                    item.likes,
                    if item.likes == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            };
            let authors: Vec<String> = {
                let mut seen = Vec::new();
                for p in &item.posts {
                    let a = p.author.name_or_address().unwrap_or_default().to_owned();
                    if !a.is_empty() && !seen.contains(&a) {
                        seen.push(a);
                    }
                }
                seen
            };
            let _ = writeln!(
                text,
                "* {subject} ({count} new post{}{likes}) by {}\n  {}\n  {link}\n",
                if count == 1 { "" } else { "s" },
                authors.join(", "),
                first.preview
            );
            let _ = writeln!(
                html,
                "<li><a href=\"{}\">{}</a> <small>({count} new post{}{likes}) by {}</small><br>{}</li>",
                escape(&link),
                escape(&subject),
                if count == 1 { "" } else { "s" },
                escape(&authors.join(", ")),
                escape(&first.preview)
            );
        }
        html.push_str("</ul>\n");
        text.push('\n');
    }
    let _ = write!(
        text,
        "-- \nChoose what reaches you, or unsubscribe: {preferences}\n"
    );
    let _ = write!(
        html,
        "<hr><p><a href=\"{}\">Choose what reaches you, or unsubscribe</a></p>",
        escape(preferences)
    );
    (text, html)
}

/// A member's digest ready to queue (None: nothing for them this time).
type Queued = (
    crate::store::UserId,
    Option<(String, Vec<u8>, String, Vec<String>, String)>,
);

/// One member's digest: chosen, rendered and composed.
fn build(
    config: &Config,
    out: &crate::config::OutboundConfig,
    member: &DigestMember,
    since: i64,
    filter: &DigestFilter,
    posts: &[DigestPost],
    interests: &crate::store::ThreadInterests,
    names: &std::collections::HashMap<crate::store::InterestId, String>,
    secret: &[u8],
    now: i64,
) -> Queued {
    let window: Vec<DigestPost> = posts.iter().filter(|p| p.date > since).cloned().collect();
    let groups = choose(&window, interests, names, filter);
    if groups.is_empty() {
        return (member.user, None);
    }
    let preferences =
        crate::forum::notify::preferences_link(&config.web.base_url, secret, member.user, now);
    let period = if member.digest == "weekly" {
        "weekly"
    } else {
        "daily"
    };
    let (text, html) = render(config, &groups, period, &preferences);
    let threads: HashSet<ThreadId> = groups.values().flatten().map(|i| i.thread).collect();
    let message_id = compose::own_message_id(secret, &crate::tokens::random_bytes(), out.domain());
    let subject = format!(
        "{} {period} digest: {} thread{}",
        config.web.site_name,
        threads.len(),
        if threads.len() == 1 { "" } else { "s" }
    );
    let bytes = match compose::compose_digest(
        &Notice {
            to: &member.address,
            subject: &subject,
            text: &text,
            message_id: &message_id,
            date: now,
            in_reply_to: None,
            auto_submitted: "auto-generated",
            calendar: None,
        },
        &html,
        &crate::forum::identity(config, out),
    ) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "a digest could not be written");
            return (member.user, None);
        }
    };
    let items: Vec<String> = groups
        .values()
        .flatten()
        .flat_map(|i| i.posts.iter().map(|p| p.post.message_id.to_string()))
        .collect();
    (
        member.user,
        Some((
            message_id,
            bytes,
            preferences,
            items,
            member.address.clone(),
        )),
    )
}

/// Queues the digests due at `now` (every member's, when `all`). Returns how many.
pub fn send_due(
    store: &mut Store,
    config: &Config,
    now: i64,
    all: bool,
) -> Result<usize, StoreError> {
    let Some(out) = config.outbound.as_ref() else {
        return Ok(0);
    };
    let members = store.digest_members()?;
    let due: Vec<(DigestMember, i64)> = members
        .into_iter()
        .filter_map(|m| {
            let since = if all {
                Some(m.last.unwrap_or(now - slot(&m, now).1))
            } else {
                due(&m, now)
            };
            since.map(|s| (m, s))
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let earliest = due.iter().map(|(_, s)| *s).min().unwrap_or(now);
    let (posts, interests) = store.digest_posts(earliest, now)?;
    let names: std::collections::HashMap<_, _> = store
        .interests()?
        .into_iter()
        .map(|i| (i.id, i.rules.name))
        .collect();
    let secret = store.site_secret()?;
    let private = config.private_lists();
    let mut work = Vec::with_capacity(due.len());
    for (member, since) in &due {
        work.push((
            member,
            *since,
            store.digest_filter(member.user, *since, &private)?,
        ));
    }
    // Choosing, rendering and composing is most of the work and touches no database: it is
    // shared among the cores.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = work.len().div_ceil(threads).max(1);
    let queued: Vec<Queued> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|part| {
                let (posts, interests, names, secret) = (&posts, &interests, &names, &secret);
                scope.spawn(move || {
                    part.iter()
                        .map(|(member, since, filter)| {
                            build(
                                config, out, member, *since, filter, posts, interests, names,
                                secret, now,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a digest builder does not panic"))
            .collect()
    });
    let run = store.begin_run("digests", now)?;
    let writer = store.writer(run)?;
    let mut sent = 0;
    for (user, digest) in queued {
        writer.set_last_digest(user, now)?;
        let Some((message_id, bytes, preferences, items, address)) = digest else {
            continue;
        };
        let outbox = writer.enqueue(
            OutboxKind::Notice,
            &message_id,
            None,
            &bytes,
            &[NewRecipient {
                address,
                reply_to: None,
                unsubscribe: Some(preferences),
            }],
            now,
        )?;
        // A digest quotes its posts: erasing one deletes the digest too.
        let quoted: Vec<Quoted<'_>> = items.iter().map(|i| Quoted::Message(i)).collect();
        writer.record_quotes(outbox, &quoted)?;
        for item in &items {
            writer.record_notifications(&[user], item, "digest", now)?;
        }
        sent += 1;
    }
    writer.commit()?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserId;

    fn member(digest: &str, hour: u32, weekday: u32, last: Option<i64>) -> DigestMember {
        DigestMember {
            user: UserId(1),
            address: "a@b.org".into(),
            digest: digest.into(),
            hour,
            weekday,
            last,
        }
    }

    #[test]
    fn digests_fall_due_at_the_chosen_hour_once() {
        // Wednesday 25 November 2026, 10:30 UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 30, 0)
            .unwrap()
            .timestamp();
        let at7 = Utc
            .with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(due(&member("daily", 7, 1, None), now), Some(at7 - 86_400));
        assert_eq!(
            due(&member("daily", 7, 1, Some(at7 + 60)), now),
            None,
            "sent today"
        );
        assert_eq!(
            due(&member("daily", 7, 1, Some(at7 - 3600)), now),
            Some(at7 - 3600)
        );
        let at11_yesterday = Utc
            .with_ymd_and_hms(2026, 11, 24, 11, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(
            slot(&member("daily", 11, 1, None), now).0,
            at11_yesterday,
            "not yet today"
        );
        // Weekly on Monday at 7: Monday 23 November.
        let monday = Utc
            .with_ymd_and_hms(2026, 11, 23, 7, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(
            slot(&member("weekly", 7, 1, None), now),
            (monday, 7 * 86_400)
        );
        assert_eq!(due(&member("weekly", 7, 1, Some(monday + 1)), now), None);
        // Weekly on Wednesday at 11: not yet this week, so last week's.
        let last_wed = Utc
            .with_ymd_and_hms(2026, 11, 18, 11, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(slot(&member("weekly", 11, 3, None), now).0, last_wed);
    }

    #[test]
    fn a_new_member_or_one_switching_gets_the_first_digest_at_their_hour() {
        use crate::store::{DeriveSettings, Role};
        let at = |d: u32, h: u32, m: u32| {
            Utc.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .unwrap()
                .timestamp()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("d.db"), DeriveSettings::default()).unwrap();
        // Wednesday 25 November, 10:05: she joins (daily at 7 by default).
        let joined = at(25, 10, 5);
        let (user, _) = store
            .create_user("Ann", "ann@example.org", Role::Member, joined)
            .unwrap();
        let ann = |store: &Store| {
            store
                .digest_members()
                .unwrap()
                .into_iter()
                .find(|m| m.user == user)
                .unwrap()
        };
        assert_eq!(
            due(&ann(&store), joined + 60),
            None,
            "a minute after joining"
        );
        assert_eq!(due(&ann(&store), at(26, 6, 59)), None);
        assert_eq!(
            due(&ann(&store), at(26, 7, 0)),
            Some(joined - 1),
            "the next 7:00, covering what came since she joined (that second included)"
        );

        // Digests off, then back to weekly on Monday at 7 (Friday 27, 12:00): the first comes on
        // Monday 30 November, covering what came since the change.
        let mut prefs = store.preferences(user).unwrap();
        prefs.digest = "off".into();
        store.save_preferences(user, &prefs, at(26, 9, 0)).unwrap();
        let switched = at(27, 12, 0);
        prefs.digest = "weekly".into();
        prefs.digest_weekday = 1;
        store.save_preferences(user, &prefs, switched).unwrap();
        assert_eq!(due(&ann(&store), switched + 60), None, "a minute after");
        assert_eq!(due(&ann(&store), at(29, 23, 0)), None);
        assert_eq!(due(&ann(&store), at(30, 7, 0)), Some(switched - 1));

        // Weekly to daily at 8 on Monday 30, 9:00: not at once, but Tuesday at 8.
        let switched = at(30, 9, 0);
        prefs.digest = "daily".into();
        prefs.digest_hour = 8;
        store.save_preferences(user, &prefs, switched).unwrap();
        assert_eq!(due(&ann(&store), switched + 60), None);
        let tuesday = Utc
            .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(due(&ann(&store), tuesday), Some(switched - 1));
        // Changing only the hour keeps the schedule: no new start.
        prefs.digest_hour = 9;
        store
            .save_preferences(user, &prefs, switched + 600)
            .unwrap();
        assert_eq!(ann(&store).last, Some(switched - 1));
    }
}
