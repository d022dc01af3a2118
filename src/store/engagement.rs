//! What the organisers' engagement page shows: posts per day and per week, who is taking
//! part, how much arrives by mail and how much through the web, how long a new thread waits
//! for its first reply, the most-liked posts, which interests are busy or growing, and the
//! threads nobody has answered. Every figure is read straight from the archive at request time
//! (the windows are whole UTC days ending with today), so nothing here needs keeping up to date.

use std::collections::HashMap;

use super::db::params;
use serde::Serialize;

use super::interests::THREAD_INTERESTS;
use super::{PostRef, StoreError};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Days in the daily series, and in "the last 30 days" everywhere on the page.
pub const DAYS: i64 = 30;
/// Weeks in the weekly series.
pub const WEEKS: i64 = 12;
/// How far back threads count towards the time to a first reply.
pub const REPLY_DAYS: i64 = 90;

/// Posts in one day or week, from `start` (unix seconds, UTC midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: i64,
    pub posts: u64,
}

/// A post and how many members like it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LikedPost {
    #[serde(flatten)]
    pub post: PostRef,
    pub author: String,
    pub date: Option<i64>,
    pub likes: u64,
}

/// An interest's messages in the last 30 days and in the 30 before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterestActivity {
    pub slug: String,
    pub name: String,
    pub recent: u64,
    pub previous: u64,
}

impl InterestActivity {
    pub fn increase(&self) -> i64 {
        self.recent as i64 - self.previous as i64
    }

    /// Recent over previous; None when there was nothing before (growth from nothing has no
    /// ratio).
    pub fn ratio(&self) -> Option<f64> {
        (self.previous > 0).then(|| self.recent as f64 / self.previous as f64)
    }
}

/// A thread started in the last 30 days that has no reply yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unanswered {
    pub thread: i64,
    pub subject: Option<String>,
    pub list: String,
    pub date: i64,
}

/// The figures of the engagement page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engagement {
    /// When the figures were taken (unix seconds).
    pub now: i64,
    /// The last 30 days, oldest first, today last; days without posts are there with 0.
    pub days: Vec<Period>,
    /// The last 12 weeks (from Monday), oldest first, this week (so far) last.
    pub weeks: Vec<Period>,
    /// Distinct authors (by address) of posts in the last 30 days.
    pub active_members: u64,
    /// Of those, the addresses a member's account has verified.
    pub active_with_accounts: u64,
    /// Posts in the last 30 days written on the web.
    pub web_posts: u64,
    /// The other posts in the last 30 days: mail to the list, or to the bridge in host mode.
    pub mail_posts: u64,
    /// Median hours from a thread's first message to its second, over threads started in the
    /// last 90 days that have a reply; None when there is none.
    pub median_first_reply_hours: Option<f64>,
    /// How many threads that median is over.
    pub replied_threads: u64,
    /// The ten most-liked posts, most likes first.
    pub most_liked: Vec<LikedPost>,
    /// Interests with messages in the last 60 days, busiest (last 30 days) first.
    pub busiest: Vec<InterestActivity>,
    /// Interests whose messages grew against the 30 days before, largest increase first.
    pub growing: Vec<InterestActivity>,
    /// Threads started in the last 30 days without a reply, newest first (at most 20).
    pub unanswered: Vec<Unanswered>,
    /// How many such threads there are in all.
    pub unanswered_total: u64,
}

impl Engagement {
    pub fn posts_last_30_days(&self) -> u64 {
        self.days.iter().map(|d| d.posts).sum()
    }

    /// Share of the last 30 days' posts written on the web, in percent.
    pub fn web_percent(&self) -> Option<f64> {
        let all = self.web_posts + self.mail_posts;
        (all > 0).then(|| 100.0 * self.web_posts as f64 / all as f64)
    }
}

/// The median of some numbers (the mean of the middle two for an even count).
fn median(mut values: Vec<i64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid] as f64
    } else {
        (values[mid - 1] as f64 + values[mid] as f64) / 2.0
    })
}

impl super::Store {
    /// The engagement figures as of `now` (unix seconds).
    pub fn engagement(&self, now: i64) -> Result<Engagement, StoreError> {
        // Windows end with today (UTC), so a message dated later today still counts and one
        // dated in the future (a sender's wrong clock) does not.
        let end = now.div_euclid(DAY) * DAY + DAY;
        let month = end - DAYS * DAY;
        let before = month - DAYS * DAY;

        let days = self.posts_per_period(end - DAYS * DAY, end, DAY)?;
        // Weeks start on Monday; 1 January 1970 was a Thursday.
        let today = end - DAY;
        let this_week = today - ((today / DAY + 3).rem_euclid(7)) * DAY;
        let weeks = self.posts_per_period(this_week - (WEEKS - 1) * WEEK, end, WEEK)?;

        let (active_members, active_with_accounts) = self
            .conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(EXISTS (SELECT 1 FROM user_emails e
                                                    WHERE e.address = a.addr
                                                      AND e.verified_at IS NOT NULL)), 0)
             FROM (SELECT DISTINCT lower(from_addr) AS addr FROM messages
                   WHERE date >= ?1 AND date < ?2 AND from_addr IS NOT NULL) a",
            )?
            .query_row(params![month, end], |r| {
                Ok((r.get::<i64>(0)? as u64, r.get::<i64>(1)? as u64))
            })?;

        let (all, web_posts): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(p.via = 'web'), 0) FROM messages m
                 LEFT JOIN posts p ON p.message_id = m.message_id
                 WHERE m.date >= ?1 AND m.date < ?2",
            )?
            .query_row(params![month, end], |r| Ok((r.get(0)?, r.get(1)?)))?;

        let delays = self.first_reply_delays(end - REPLY_DAYS * DAY, end)?;
        let replied_threads = delays.len() as u64;
        let median_first_reply_hours = median(delays).map(|s| s / 3600.0);

        let (busiest, growing) = self.interest_activity(before, month, end)?;
        let (unanswered, unanswered_total) = self.unanswered(month, end)?;

        Ok(Engagement {
            now,
            days,
            weeks,
            active_members,
            active_with_accounts,
            web_posts: web_posts as u64,
            mail_posts: (all - web_posts) as u64,
            median_first_reply_hours,
            replied_threads,
            most_liked: self.most_liked(10)?,
            busiest,
            growing,
            unanswered,
            unanswered_total,
        })
    }

    /// Messages per period of `len` seconds from `start` to `end`, every period present (the
    /// last one may be cut short by `end`: this week so far).
    fn posts_per_period(&self, start: i64, end: i64, len: i64) -> Result<Vec<Period>, StoreError> {
        let mut periods: Vec<Period> = (0..(end - start + len - 1) / len)
            .map(|i| Period {
                start: start + i * len,
                posts: 0,
            })
            .collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT (date - ?1) / ?3, count(*) FROM messages
             WHERE date >= ?1 AND date < ?2 GROUP BY 1",
        )?;
        let rows = stmt.query_map(params![start, end, len], |r| {
            Ok((r.get::<i64>(0)?, r.get::<i64>(1)?))
        })?;
        for row in rows {
            let (i, n) = row?;
            if let Some(p) = periods.get_mut(i as usize) {
                p.posts = n as u64;
            }
        }
        Ok(periods)
    }

    /// Seconds from the first message to the second (by date) of each thread started between
    /// `from` and `to` that has a second.
    fn first_reply_delays(&self, from: i64, to: i64) -> Result<Vec<i64>, StoreError> {
        // A thread started after `from` was last active after it too: the condition on
        // last_date lets the threads_last index narrow the scan (first_date has none).
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.first_date,
                    (SELECT m.date FROM messages m WHERE m.thread_id = t.id AND m.date IS NOT NULL
                     ORDER BY m.date, m.id LIMIT 1 OFFSET 1)
             FROM threads t
             WHERE t.last_date >= ?1 AND t.first_date >= ?1 AND t.first_date < ?2
               AND t.message_count >= 2",
        )?;
        let rows = stmt.query_map(params![from, to], |r| {
            Ok((r.get::<i64>(0)?, r.get::<Option<i64>>(1)?))
        })?;
        let mut delays = Vec::new();
        for row in rows {
            if let (first, Some(second)) = row? {
                delays.push(second - first);
            }
        }
        Ok(delays)
    }

    fn most_liked(&self, limit: usize) -> Result<Vec<LikedPost>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.message_id, m.thread_id AS thread, m.subject, l.name AS list,
                    coalesce(m.from_name, m.from_addr, '') AS author, m.date, k.n AS likes
             FROM (SELECT message_id, count(*) AS n FROM likes GROUP BY message_id) k
             JOIN messages m ON m.message_id = k.message_id
             JOIN lists l ON l.id = m.list_id
             ORDER BY k.n DESC, m.date DESC, m.id DESC
             LIMIT ?1",
        )?;
        super::rows_as(&mut stmt, [limit as i64])
    }

    /// Per interest, messages from `mid` to `end` and from `start` to `mid`: busiest first,
    /// and the growing ones by increase. A message counts towards its thread's interests (the
    /// rules' tags on any of its messages and hand-set ones, as thread pages show them).
    #[allow(clippy::type_complexity)]
    fn interest_activity(
        &self,
        start: i64,
        mid: i64,
        end: i64,
    ) -> Result<(Vec<InterestActivity>, Vec<InterestActivity>), StoreError> {
        let threads: Vec<(i64, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT thread_id, sum(date >= ?2), sum(date < ?2) FROM messages
                 WHERE date >= ?1 AND date < ?3 GROUP BY thread_id",
            )?
            .query_map(params![start, mid, end], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut counts: HashMap<i64, (u64, u64)> = HashMap::new();
        let mut of_thread = self.conn.prepare_cached(THREAD_INTERESTS)?;
        for (thread, recent, previous) in threads {
            let ids = of_thread.query_map([thread], |r| r.get::<i64>(0))?;
            for id in ids {
                let c = counts.entry(id?).or_default();
                c.0 += recent as u64;
                c.1 += previous as u64;
            }
        }
        let mut busiest: Vec<InterestActivity> = self
            .interests()?
            .into_iter()
            .filter_map(|i| {
                counts
                    .get(&i.id.0)
                    .map(|&(recent, previous)| InterestActivity {
                        slug: i.rules.slug,
                        name: i.rules.name,
                        recent,
                        previous,
                    })
            })
            .collect();
        busiest.sort_by(|a, b| b.recent.cmp(&a.recent).then(a.name.cmp(&b.name)));
        let mut growing: Vec<InterestActivity> = busiest
            .iter()
            .filter(|i| i.increase() > 0)
            .cloned()
            .collect();
        growing.sort_by(|a, b| {
            b.increase()
                .cmp(&a.increase())
                .then(b.recent.cmp(&a.recent))
                .then(a.name.cmp(&b.name))
        });
        Ok((busiest, growing))
    }

    fn unanswered(&self, from: i64, to: i64) -> Result<(Vec<Unanswered>, u64), StoreError> {
        // One message: first and last date are the same, so threads_last finds them.
        let total: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM threads
                 WHERE last_date >= ?1 AND last_date < ?2 AND message_count = 1",
            )?
            .query_row(params![from, to], |r| r.get(0))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.id, t.subject, l.name, t.first_date FROM threads t
             JOIN lists l ON l.id = t.list_id
             WHERE t.last_date >= ?1 AND t.last_date < ?2 AND t.message_count = 1
             ORDER BY t.last_date DESC, t.id DESC LIMIT 20",
        )?;
        let rows = stmt.query_map(params![from, to], |r| {
            Ok(Unanswered {
                thread: r.get(0)?,
                subject: r.get(1)?,
                list: r.get(2)?,
                date: r.get(3)?,
            })
        })?;
        Ok((rows.collect::<Result<_, _>>()?, total as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeriveSettings, Store};

    /// 25 Nov 2026, 02:00 UTC: a Wednesday.
    const NOW: i64 = 1_795_572_000;
    const HOUR: i64 = 3600;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        next: i64,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path().join("e.db"), DeriveSettings::default()).unwrap();
            store
                .conn
                .execute_batch(
                    "INSERT INTO lists(id, name) VALUES (1, 'snug');
                     INSERT INTO interests(id, slug, name, created) VALUES
                         (1, 'asthma', 'Asthma', 0), (2, 'diabetes', 'Diabetes', 0),
                         (3, 'copd', 'COPD', 0);
                     INSERT INTO users(id, display_name, created) VALUES (1, 'Alice', 0), (2, 'Bob', 0);
                     INSERT INTO user_emails(address, user_id, verified_at) VALUES
                         ('alice@example.org', 1, 0), ('bob@example.org', 2, NULL);",
                )
                .unwrap();
            Fixture {
                _dir: dir,
                store,
                next: 1,
            }
        }

        fn thread(&mut self, subject: &str) -> i64 {
            self.store
                .conn
                .execute(
                    "INSERT INTO threads(list_id, subject, message_count) VALUES (1, ?1, 0)",
                    [subject],
                )
                .unwrap();
            self.store.conn.last_insert_rowid()
        }

        /// A message in a thread, keeping the thread's dates and count as the archive does.
        fn message(&mut self, thread: i64, date: i64, from: &str) -> String {
            let n = self.next;
            self.next += 1;
            let id = format!("m{n}@example.org");
            let conn = &self.store.conn;
            conn.execute(
                "INSERT INTO raw_messages(id, sha256, size, list_id, origin, import_run, data)
                 VALUES (?1, ?2, 0, 1, 'test', 1, x'')",
                params![n, n.to_be_bytes().to_vec()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages(raw_id, message_id, thread_id, list_id, date, from_addr,
                     subject, norm_subject, is_reply, refs, content_sha256)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, 'Subject', 'subject', 0, '', x'')",
                params![n, id, thread, date, from],
            )
            .unwrap();
            conn.execute(
                "UPDATE threads SET message_count = message_count + 1,
                     first_date = min(coalesce(first_date, ?2), ?2),
                     last_date = max(coalesce(last_date, ?2), ?2) WHERE id = ?1",
                params![thread, date],
            )
            .unwrap();
            id
        }

        fn tag(&self, message: &str, interest: i64) {
            self.store
                .conn
                .execute(
                    "INSERT INTO message_tags(message, interest)
                     SELECT id, ?2 FROM messages WHERE message_id = ?1",
                    params![message, interest],
                )
                .unwrap();
        }
    }

    #[test]
    fn figures_of_a_small_archive() {
        let mut f = Fixture::new();
        let today = NOW - 2 * HOUR;
        // Asthma: answered after 2 hours, today; tagged on its first message only, yet the
        // reply counts for the interest too (a thread's interests).
        let asthma = f.thread("Spacers");
        let first = f.message(asthma, today, "Alice@Example.org");
        let reply = f.message(asthma, today + 2 * HOUR, "carol@example.org");
        f.tag(&first, 1);
        // Diabetes: 10 days ago, answered after 10 hours, then again; and 40 days ago, three
        // messages (the previous 30 days), answered after 4 hours.
        let diabetes = f.thread("Insulin");
        let d = f.message(diabetes, today - 10 * DAY, "bob@example.org");
        f.message(diabetes, today - 10 * DAY + 10 * HOUR, "alice@example.org");
        f.message(diabetes, today - 9 * DAY, "alice@example.org");
        f.tag(&d, 2);
        let older = f.thread("Insulin pens");
        let o = f.message(older, today - 40 * DAY, "bob@example.org");
        f.message(older, today - 40 * DAY + 4 * HOUR, "alice@example.org");
        f.message(older, today - 39 * DAY, "carol@example.org");
        f.tag(&o, 2);
        // COPD: a hand-set tag on an unanswered thread from 3 days ago, written on the web.
        let copd = f.thread("Pulmonary rehab");
        let c = f.message(copd, today - 3 * DAY, "alice@example.org");
        f.store
            .conn
            .execute_batch(&format!(
                "INSERT INTO manual_tags(message_id, interest, present, set_at) VALUES ('{c}', 3, 1, 0);
                 INSERT INTO posts(message_id, user_id, via, created) VALUES ('{c}', 1, 'web', 0);
                 INSERT INTO posts(message_id, user_id, via, created) VALUES ('{reply}', 2, 'mail', 0);"
            ))
            .unwrap();
        // An unanswered thread from long ago, and a message from the future: neither counts.
        let old = f.thread("Old news");
        f.message(old, today - 200 * DAY, "dave@example.org");
        let future = f.thread("From the future");
        f.message(future, NOW + 5 * DAY, "eve@example.org");
        // Likes: the reply twice, the COPD post once.
        f.store
            .conn
            .execute_batch(&format!(
                "INSERT INTO likes(user_id, message_id, created) VALUES (1, '{reply}', 0), (2, '{reply}', 0), (1, '{c}', 0);"
            ))
            .unwrap();

        let e = f.store.engagement(NOW).unwrap();
        assert_eq!(e.days.len(), 30);
        assert_eq!(e.weeks.len(), 12);
        let day = |d: &Period| (NOW - d.start) / DAY;
        assert!(e.days.windows(2).all(|w| w[1].start - w[0].start == DAY));
        assert_eq!(day(e.days.last().unwrap()), 0, "today is last");
        let busy: Vec<(i64, u64)> = e
            .days
            .iter()
            .filter(|d| d.posts > 0)
            .map(|d| (day(d), d.posts))
            .collect();
        assert_eq!(busy, vec![(10, 2), (9, 1), (3, 1), (0, 2)]);
        assert_eq!(e.posts_last_30_days(), 6);
        // Weeks from Monday: this week (from 23 Nov) has today's two; the week of 9 Nov has
        // the three diabetes messages of 14–15 Nov, and so on.
        let this_week = e.weeks.last().unwrap();
        assert_eq!(
            chrono::DateTime::from_timestamp(this_week.start, 0)
                .unwrap()
                .format("%a %d %b")
                .to_string(),
            "Mon 23 Nov"
        );
        assert_eq!(this_week.posts, 2);
        assert_eq!(e.weeks.iter().map(|w| w.posts).sum::<u64>(), 9);

        // Alice (verified account, whatever the case of her address), Bob (unverified) and
        // Carol (no account).
        assert_eq!((e.active_members, e.active_with_accounts), (3, 1));
        assert_eq!((e.web_posts, e.mail_posts), (1, 5));
        assert_eq!(e.web_percent().map(|p| p.round()), Some(17.0));

        // Replies after 2, 10 and 4 hours (the 40-day-old thread is within 90 days).
        assert_eq!(e.replied_threads, 3);
        assert_eq!(e.median_first_reply_hours, Some(4.0));

        assert_eq!(e.most_liked.len(), 2);
        assert_eq!(
            (
                e.most_liked[0].post.message_id.as_str(),
                e.most_liked[0].likes
            ),
            (reply.as_str(), 2)
        );
        assert_eq!(e.most_liked[0].post.thread, crate::store::ThreadId(asthma));
        assert_eq!(e.most_liked[1].likes, 1);

        let busiest: Vec<(&str, u64, u64)> = e
            .busiest
            .iter()
            .map(|i| (i.slug.as_str(), i.recent, i.previous))
            .collect();
        assert_eq!(
            busiest,
            vec![("diabetes", 3, 3), ("asthma", 2, 0), ("copd", 1, 0)]
        );
        let growing: Vec<&str> = e.growing.iter().map(|i| i.slug.as_str()).collect();
        assert_eq!(growing, vec!["asthma", "copd"]);
        assert_eq!(e.busiest[0].ratio(), Some(1.0));
        assert_eq!(e.growing[0].ratio(), None);

        assert_eq!(e.unanswered_total, 1);
        assert_eq!(e.unanswered[0].thread, copd);
        assert_eq!(e.unanswered[0].subject.as_deref(), Some("Pulmonary rehab"));
    }

    #[test]
    fn an_empty_archive_has_zeros_and_no_median() {
        let f = Fixture::new();
        let e = f.store.engagement(NOW).unwrap();
        assert_eq!(e.days.len(), 30);
        assert!(e.days.iter().chain(&e.weeks).all(|p| p.posts == 0));
        assert_eq!(e.median_first_reply_hours, None);
        assert_eq!(e.web_percent(), None);
        assert!(e.busiest.is_empty() && e.growing.is_empty() && e.unanswered.is_empty());
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3.0));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2.5));
    }
}
