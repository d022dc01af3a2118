//! Members: accounts with their verified addresses, profiles, roles, one-time sign-in links and
//! sessions. Secrets (link and session tokens) are stored only as SHA-256 hashes, so a copy of
//! the database signs nobody in; the caller hashes with `crate::tokens`.

use super::db::{OptionalExtension, params};
use serde::Serialize;

use super::{PostRef, StoreError};

/// A row of `users`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UserId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Moderator,
    Admin,
}

/// What changing a member's role did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    NoSuchMember,
    /// They had that role already.
    Unchanged(Role),
    /// Refused: they are the only admin.
    LastAdmin,
    Changed {
        from: Role,
    },
}

/// A member as the admins' members page lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOverview {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// Their addresses, the primary first.
    pub addresses: Vec<String>,
    /// The lists whose rosters have one of their addresses, comma separated.
    pub lists: String,
    /// Delivery to one of their addresses is paused after bounces.
    pub paused: bool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "moderator" => Some(Role::Moderator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A member as pages show them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct User {
    pub id: UserId,
    pub display_name: String,
    pub organisation: Option<String>,
    pub job_title: Option<String>,
    pub bio: Option<String>,
    pub role: Role,
    pub has_password: bool,
    pub has_avatar: bool,
    pub created: i64,
    /// Where mail to the member goes.
    pub primary_email: Option<String>,
}

/// A signed-in visitor.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    /// The token every form of this session must carry.
    pub csrf: String,
}

/// An archived message written from one of a member's addresses.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MemberPost {
    #[serde(flatten)]
    pub post: PostRef,
    pub date: Option<i64>,
}

/// The columns of a [`User`], named after its fields.
const USER_COLUMNS: &str = "u.id, u.display_name, u.organisation, u.job_title, u.bio, u.role,
    u.password_hash IS NOT NULL AS has_password, u.avatar IS NOT NULL AS has_avatar, u.created,
    (SELECT address FROM user_emails e WHERE e.user_id = u.id AND e.verified_at IS NOT NULL
     ORDER BY e.is_primary DESC, e.verified_at LIMIT 1) AS primary_email";

/// How long a session lasts without being used.
pub const SESSION_SECONDS: i64 = 30 * 86_400;

impl super::Store {
    /// Creates a member with one verified address, or returns the member who already has it.
    pub fn create_user(
        &mut self,
        display_name: &str,
        address: &str,
        role: Role,
        now: i64,
    ) -> Result<(UserId, bool), StoreError> {
        let address = address.trim().to_lowercase();
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT user_id FROM user_emails WHERE address = ?1",
                [&address],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            tx.execute(
                "UPDATE user_emails SET verified_at = coalesce(verified_at, ?2) WHERE address = ?1",
                params![address, now],
            )?;
            tx.commit()?;
            return Ok((UserId(id), false));
        }
        tx.execute(
            "INSERT INTO users(display_name, role, created) VALUES (?1, ?2, ?3)",
            params![display_name.trim(), role.as_str(), now],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO user_emails(address, user_id, verified_at, is_primary) VALUES (?1, ?2, ?3, 1)",
            params![address, id, now],
        )?;
        tx.commit()?;
        Ok((UserId(id), true))
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"
        ))?;
        super::row_as(&mut stmt, [id.0])
    }

    /// The member owning a verified address.
    pub fn user_by_email(&self, address: &str) -> Result<Option<UserId>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT user_id FROM user_emails WHERE address = ?1 AND verified_at IS NOT NULL",
            )?
            .query_row([address.trim().to_lowercase()], |r| r.get(0))
            .optional()?
            .map(UserId))
    }

    /// A member's verified addresses, primary first.
    pub fn user_emails(&self, id: UserId) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address FROM user_emails WHERE user_id = ?1 AND verified_at IS NOT NULL
             ORDER BY is_primary DESC, address",
        )?;
        let rows = stmt.query_map([id.0], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saves what a member may change on their profile: name, organisation, job title and bio
    /// (blank ones as none). The rest of `profile` is not written here.
    pub fn update_profile(&self, profile: &User) -> Result<(), StoreError> {
        let blank = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        self.conn.execute(
            "UPDATE users SET display_name = ?2, organisation = ?3, job_title = ?4, bio = ?5
             WHERE id = ?1",
            params![
                profile.id.0,
                profile.display_name.trim(),
                blank(&profile.organisation),
                blank(&profile.job_title),
                blank(&profile.bio)
            ],
        )?;
        Ok(())
    }

    pub fn set_avatar(&self, id: UserId, png: Option<&[u8]>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE users SET avatar = ?2 WHERE id = ?1",
            params![id.0, png],
        )?;
        Ok(())
    }

    pub fn avatar(&self, id: UserId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT avatar FROM users WHERE id = ?1", [id.0], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    pub fn set_password_hash(&self, id: UserId, hash: Option<&str>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id.0, hash],
        )?;
        Ok(())
    }

    /// The member of a verified address and their password hash, when they chose a password.
    pub fn password_hash(&self, address: &str) -> Result<Option<(UserId, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, u.password_hash FROM users u JOIN user_emails e ON e.user_id = u.id
                 WHERE e.address = ?1 AND e.verified_at IS NOT NULL AND u.password_hash IS NOT NULL",
                [address.trim().to_lowercase()],
                |r| Ok((UserId(r.get(0)?), r.get(1)?)),
            )
            .optional()?)
    }

    /// An admin's change of a member's role, logged in the moderation log (by `by`, or by the
    /// command line when None) in the same transaction. The last admin is never demoted: the
    /// forum would be left with nobody to appoint one.
    pub fn change_role(
        &mut self,
        id: UserId,
        role: Role,
        by: Option<UserId>,
        now: i64,
    ) -> Result<RoleChange, StoreError> {
        let tx = self.conn.transaction()?;
        let old: Option<String> = tx
            .query_row("SELECT role FROM users WHERE id = ?1", [id.0], |r| r.get(0))
            .optional()?;
        let Some(old) = old.as_deref().and_then(Role::parse) else {
            return Ok(RoleChange::NoSuchMember);
        };
        if old == role {
            return Ok(RoleChange::Unchanged(old));
        }
        let admins: i64 =
            tx.query_row("SELECT count(*) FROM users WHERE role = 'admin'", (), |r| {
                r.get(0)
            })?;
        if old == Role::Admin && admins <= 1 {
            return Ok(RoleChange::LastAdmin);
        }
        tx.execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id.0, role.as_str()],
        )?;
        // The member by number, not by name: the log outlives an erased account.
        tx.execute(
            "INSERT INTO moderation_log(at, moderator, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![
                now,
                by.map(|u| u.0),
                "changed a role",
                format!(
                    "member {}: {} to {}{}",
                    id.0,
                    old.as_str(),
                    role.as_str(),
                    if by.is_none() {
                        ", by the command line"
                    } else {
                        ""
                    }
                )
            ],
        )?;
        tx.commit()?;
        Ok(RoleChange::Changed { from: old })
    }

    /// Every member with their role, addresses, private lists' rosters they are on and whether
    /// delivery to them is paused: admins first, then moderators, then by name.
    pub fn members_overview(&self) -> Result<Vec<MemberOverview>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT u.id, u.display_name, u.role,
                    (SELECT group_concat(address, ' ') FROM (SELECT address FROM user_emails
                      WHERE user_id = u.id ORDER BY is_primary DESC, address)),
                    (SELECT group_concat(name, ', ') FROM (SELECT DISTINCT l.name FROM list_members m
                      JOIN lists l ON l.id = m.list_id JOIN user_emails e ON e.address = m.address
                      WHERE e.user_id = u.id ORDER BY l.name)),
                    EXISTS (SELECT 1 FROM bounces b JOIN user_emails e ON e.address = b.address
                      WHERE e.user_id = u.id AND b.paused_at IS NOT NULL)
               FROM users u
              ORDER BY CASE u.role WHEN 'admin' THEN 0 WHEN 'moderator' THEN 1 ELSE 2 END,
                       u.display_name COLLATE NOCASE, u.id",
        )?;
        let rows = stmt.query_map((), |r| {
            let addresses: Option<String> = r.get(3)?;
            let lists: Option<String> = r.get(4)?;
            Ok(MemberOverview {
                id: UserId(r.get(0)?),
                name: r.get(1)?,
                role: Role::parse(&r.get::<String>(2)?).unwrap_or(Role::Member),
                addresses: addresses
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                lists: lists.unwrap_or_default(),
                paused: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_role(&self, id: UserId, role: Role) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id.0, role.as_str()],
        )?;
        Ok(())
    }

    /// Remembers a one-time sign-in link (its token's hash).
    pub fn create_sign_in_link(
        &self,
        token_hash: &[u8],
        address: &str,
        display_name: Option<&str>,
        now: i64,
        expires: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sign_in_links(token_hash, address, display_name, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token_hash,
                address.trim().to_lowercase(),
                display_name,
                now,
                expires
            ],
        )?;
        Ok(())
    }

    /// The address a link is for, while it is unused and unexpired.
    pub fn sign_in_link(&self, token_hash: &[u8], now: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT address FROM sign_in_links
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires > ?2",
                params![token_hash, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Uses a sign-in link: marks it used, verifies its address and creates the member when the
    /// address is new. None when the link is unknown, used or expired.
    pub fn use_sign_in_link(
        &mut self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<(UserId, bool)>, StoreError> {
        let tx = self.conn.transaction()?;
        let link: Option<(String, Option<String>)> = tx
            .query_row(
                "UPDATE sign_in_links SET used_at = ?2
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires > ?2
                 RETURNING address, display_name",
                params![token_hash, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        tx.commit()?;
        let Some((address, name)) = link else {
            return Ok(None);
        };
        // A new member's name: what they gave, else the name on their archived mail, else the
        // address's local part.
        let name = match name.filter(|n| !n.trim().is_empty()) {
            Some(n) => n,
            None => self
                .conn
                .query_row(
                    "SELECT from_name FROM messages WHERE from_addr = ?1 COLLATE NOCASE
                     AND from_name IS NOT NULL ORDER BY date DESC LIMIT 1",
                    [&address],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or_else(|| address.split('@').next().unwrap_or("member").to_owned()),
        };
        Ok(Some(self.create_user(
            &name,
            &address,
            Role::Member,
            now,
        )?))
    }

    pub fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        csrf: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sessions(token_hash, user_id, csrf, created, last_seen, expires)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![token_hash, user.0, csrf, now, now + SESSION_SECONDS],
        )?;
        Ok(())
    }

    /// The session of a token, extended while in use (at most once an hour, to spare writes).
    pub fn session(&self, token_hash: &[u8], now: i64) -> Result<Option<Session>, StoreError> {
        let found: Option<(i64, String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT user_id, csrf, last_seen FROM sessions WHERE token_hash = ?1 AND expires > ?2",
            )?
            .query_row(params![token_hash, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((user, csrf, last_seen)) = found else {
            return Ok(None);
        };
        if now - last_seen > 3600 {
            self.conn.execute(
                "UPDATE sessions SET last_seen = ?2, expires = ?3 WHERE token_hash = ?1",
                params![token_hash, now, now + SESSION_SECONDS],
            )?;
        }
        Ok(self.user(UserId(user))?.map(|user| Session { user, csrf }))
    }

    pub fn end_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    /// Signs a member out everywhere.
    pub fn end_all_sessions(&self, user: UserId) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?)
    }

    /// Archived messages sent from any of a member's verified addresses, newest first: twenty
    /// years of history become theirs when they verify the address they used.
    pub fn member_posts(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<(Vec<MemberPost>, u64), StoreError> {
        let emails = self.user_emails(user)?;
        let mut posts = Vec::new();
        let mut total = 0u64;
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.message_id, m.thread_id AS thread, m.subject, m.date, l.name AS list
             FROM messages m JOIN lists l ON l.id = m.list_id
             WHERE m.from_addr = ?1 COLLATE NOCASE ORDER BY m.date DESC LIMIT ?2",
        )?;
        let mut count = self
            .conn
            .prepare_cached("SELECT count(*) FROM messages WHERE from_addr = ?1 COLLATE NOCASE")?;
        for address in &emails {
            total += count.query_row([address], |r| r.get::<u64>(0))?;
            posts.extend(super::rows_as::<MemberPost>(
                &mut stmt,
                params![address, limit as i64],
            )?);
        }
        posts.sort_by_key(|p| std::cmp::Reverse(p.date));
        posts.truncate(limit);
        Ok((posts, total))
    }

    /// The member who wrote an archived address's mail, for linking authors to profiles.
    pub fn members_by_address(
        &self,
        addresses: &[&str],
    ) -> Result<std::collections::HashMap<String, UserId>, StoreError> {
        let mut found = std::collections::HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id FROM user_emails WHERE address = ?1 AND verified_at IS NOT NULL",
        )?;
        // A thread's authors repeat: each address is looked up once.
        let mut lowered: Vec<String> = addresses.iter().map(|a| a.to_lowercase()).collect();
        lowered.sort_unstable();
        lowered.dedup();
        for lower in lowered {
            if let Some(id) = stmt.query_row([&lower], |r| r.get(0)).optional()? {
                found.insert(lower, UserId(id));
            }
        }
        Ok(found)
    }

    /// Adds members from a roster of the old list ("Name <address>" or a bare address per
    /// entry); addresses already known are left as they are. Returns how many were new.
    pub fn import_members(
        &mut self,
        entries: &[(String, String)],
        now: i64,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut known = tx.prepare_cached("SELECT 1 FROM user_emails WHERE address = ?1")?;
            let mut user = tx.prepare_cached(
                "INSERT INTO users(display_name, role, created, delivery) VALUES (?1, 'member', ?2, 'all')",
            )?;
            let mut email = tx.prepare_cached(
                "INSERT INTO user_emails(address, user_id, verified_at, is_primary) VALUES (?1, ?2, ?3, 1)",
            )?;
            for (name, address) in entries {
                let address = address.trim().to_lowercase();
                if known.exists([&address])? {
                    continue;
                }
                user.execute(params![name, now])?;
                email.execute(params![address, tx.last_insert_rowid(), now])?;
                added += 1;
            }
        }
        tx.commit()?;
        Ok(added)
    }
}
