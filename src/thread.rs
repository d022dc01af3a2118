//! The threader: which messages form one conversation, and where each sits in it. It follows
//! JWZ (<https://www.jwz.org/doc/threading.html>) with notmuch's parent priority: a message's
//! own In-Reply-To, else its last Reference, else a weaker fallback, names its parent; ids that
//! are referenced but absent become ghost containers, linked to each other by References
//! chains, so a reply still lands in place when messages arrive in any order. The result does
//! not depend on the input order. Everything is iterative (a mail's reply chain may be
//! thousands deep) and pure: no I/O, no clock.
//!
//! Moderators' fixes (split a thread at a message, move a message to another thread, merge two
//! threads) come in as data, by Message-ID: [`partition`] says which thread each message
//! belongs to once they apply, [`arrange_fixed`] lays a fixed thread out.
//!
//! Outlook's `Thread-Index` header is decoded here too; the store turns it into a
//! `fallback_parent` for mail that carries no References.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::mail::ids::MessageId;

/// What the threader needs to know about one real message.
#[derive(Debug, Clone, Copy)]
pub struct ThreadMessage<'a> {
    /// Normalised Message-ID, no angle brackets.
    pub id: &'a str,
    /// Parsed References, header order.
    pub references: &'a [String],
    pub in_reply_to: Option<&'a str>,
    /// A parent found by a weaker signal (Outlook Thread-Index, subject grouping), used only
    /// when References and In-Reply-To give no usable parent.
    pub fallback_parent: Option<&'a str>,
    /// Unix seconds: orders siblings and roots.
    pub date: i64,
}

/// A stored message's threading headers, owned: what the archive keeps of each message for
/// the threader, lent to it by [`ThreadHeaders::thread_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadHeaders {
    /// Normalised Message-ID, no angle brackets.
    pub message_id: MessageId,
    /// Parsed References, header order.
    pub references: Vec<String>,
    pub in_reply_to: Option<String>,
    /// See [`ThreadMessage::fallback_parent`].
    pub fallback_parent: Option<String>,
    /// Unix seconds, when the mail gives a date.
    pub date: Option<i64>,
}

impl ThreadHeaders {
    /// The threader's view; a message without a date sorts as if sent at the epoch.
    pub fn thread_message(&self) -> ThreadMessage<'_> {
        ThreadMessage {
            id: &self.message_id,
            references: &self.references,
            in_reply_to: self.in_reply_to.as_deref(),
            fallback_parent: self.fallback_parent.as_deref(),
            date: self.date.unwrap_or(0),
        }
    }
}

/// Where a real message sits in its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index into the input slice.
    pub index: usize,
    /// Nearest REAL ancestor (input index); `None` at a root or under a ghost-only chain.
    pub parent: Option<usize>,
    /// Number of real ancestors.
    pub depth: u32,
}

/// An id the threader can link by: non-empty and without whitespace (parsed ids never have any).
fn usable(id: &str) -> bool {
    !id.is_empty() && !id.contains(char::is_whitespace)
}

/// The id JWZ would make this message's direct parent: In-Reply-To when it names a valid id
/// different from the message's own (notmuch's parent priority), else the last References
/// entry that is not the message itself, else `fallback_parent`.
pub fn direct_parent<'a>(m: &ThreadMessage<'a>) -> Option<&'a str> {
    let other = |id: &&str| usable(id) && *id != m.id;
    m.in_reply_to
        .filter(other)
        .or_else(|| m.references.iter().rev().map(String::as_str).find(other))
        .or_else(|| m.fallback_parent.filter(other))
}

/// Thread membership as notmuch decides it: connected components over each message's own id,
/// its References and its In-Reply-To (and `fallback_parent`), so two messages sharing any
/// referenced id (even a ghost's) are one thread. Returns a thread number per input index;
/// numbers are dense, 0.., ordered by first appearance in the input.
pub fn group<'a>(messages: &[ThreadMessage<'a>]) -> Vec<usize> {
    let mut sets = UnionFind::default();
    let mut nodes: HashMap<&'a str, usize> = HashMap::new();
    let mut node_of = |id: &'a str, sets: &mut UnionFind| -> usize {
        if !usable(id) {
            // An unusable id joins nothing: it gets a node of its own.
            return sets.add();
        }
        *nodes.entry(id).or_insert_with(|| sets.add())
    };
    let own: Vec<usize> = messages
        .iter()
        .map(|m| {
            let me = node_of(m.id, &mut sets);
            let linked = m
                .references
                .iter()
                .map(String::as_str)
                .chain(m.in_reply_to)
                .chain(m.fallback_parent);
            for id in linked.filter(|id| usable(id)) {
                let other = node_of(id, &mut sets);
                sets.union(me, other);
            }
            me
        })
        .collect();
    let mut numbers: HashMap<usize, usize> = HashMap::new();
    own.iter()
        .map(|&n| {
            let root = sets.find(n);
            let next = numbers.len();
            *numbers.entry(root).or_insert(next)
        })
        .collect()
}

/// The JWZ forest over `messages` (typically one thread's messages), with ghost containers for
/// referenced ids not present. Returns every input message exactly once, in thread order:
/// trees ordered by their earliest date, depth-first, siblings by date (then id for ties).
///
/// Rules, each chosen so the result is the same for any input order:
/// - a real message's parent comes from its own headers only ([`direct_parent`]); another
///   message's References never re-parent it (as in notmuch);
/// - a ghost's parent comes from References chains (and an In-Reply-To missing from them,
///   appended as JWZ advises), the earliest message's chain first; a link that would close a
///   loop is skipped;
/// - a loop among real messages' own parents is broken at its earliest message, which becomes
///   a root (notmuch's loop case);
/// - ghosts are then dropped: a message's parent is its nearest real ancestor.
pub fn arrange(messages: &[ThreadMessage]) -> Vec<Placement> {
    linked(messages, &BTreeMap::new()).placements(messages)
}

/// A moderator's correction of the threading, by Message-ID (so it outlives thread numbers,
/// which `reindex` may change). The store keeps them as primary data and hands them in here
/// whenever threads are derived or arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix<'a> {
    /// The message and its replies become a thread of their own.
    Split { message: &'a str },
    /// The message and its replies join the thread holding `target`: as a reply to it, or as a
    /// tree of their own in that thread.
    Move {
        message: &'a str,
        target: &'a str,
        as_reply: bool,
    },
    /// The thread holding `message` joins the thread holding `target`.
    Merge { message: &'a str, target: &'a str },
}

impl<'a> Fix<'a> {
    /// The message this fix cuts from its place in the tree (a split or a move).
    pub fn cut(&self) -> Option<&'a str> {
        match *self {
            Fix::Split { message } | Fix::Move { message, .. } => Some(message),
            Fix::Merge { .. } => None,
        }
    }
}

/// Where [`partition`] puts a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part<'a> {
    /// The natural thread of the component the caller labelled so.
    Natural(i64),
    /// The thread begun by this split (or moved) message.
    Cut(&'a str),
}

/// [`arrange`] with moderators' fixes: a split or moved message gets the parent the fix says
/// (none, or the message it was moved under) instead of its headers' (the later fix of a
/// message wins); merges change no parent.
pub fn arrange_fixed<'a>(messages: &[ThreadMessage<'a>], fixes: &[Fix<'a>]) -> Vec<Placement> {
    let mut overrides = BTreeMap::new();
    for fix in fixes {
        match *fix {
            Fix::Split { message } => overrides.insert(message, None),
            Fix::Move {
                message,
                target,
                as_reply,
            } => overrides.insert(message, as_reply.then_some(target)),
            Fix::Merge { .. } => None,
        };
    }
    linked(messages, &overrides).placements(messages)
}

/// Which thread each message belongs to once `fixes` are applied, over messages of one or
/// more natural threads (`labels[i]` is message i's). Membership follows the reply tree, not
/// the headers alone: a split or moved message takes its whole subtree (replies whose
/// References skip it, and those hanging under it as a missing message, included) while the
/// rest stays put. Fixes apply in order: a move or merge points a part at the part holding its
/// target; a later split of the same message takes it out again; a fix that would point a
/// part at itself, or names a message not given, does nothing. The result does not depend on
/// the input order.
pub fn partition<'a>(
    messages: &[ThreadMessage<'a>],
    labels: &[i64],
    fixes: &[Fix<'a>],
) -> Vec<Part<'a>> {
    debug_assert_eq!(messages.len(), labels.len());
    let n = messages.len();
    // Every cut message is a root here: a move's new parent may lie in another natural
    // thread, and where it hangs changes no membership.
    let overrides: BTreeMap<&'a str, Option<&'a str>> = fixes
        .iter()
        .filter_map(Fix::cut)
        .map(|id| (id, None))
        .collect();
    let forest = linked(messages, &overrides);
    let total = forest.parent.len();
    let (children, roots) = forest.children_and_roots();
    let mut preorder = Vec::with_capacity(total);
    let mut stack = roots;
    while let Some(c) = stack.pop() {
        preorder.push(c);
        stack.extend(&children[c]);
    }
    // A ghost's natural thread is that of the messages under it (children come after their
    // parents in `preorder`, so a reverse pass folds labels upwards).
    let mut label: Vec<Option<i64>> = (0..total).map(|c| labels.get(c).copied()).collect();
    for &c in preorder.iter().rev() {
        if label[c].is_none() {
            label[c] = children[c].iter().find_map(|&k| label[k]);
        }
    }
    let cut_at: HashMap<usize, &'a str> = overrides
        .keys()
        .filter_map(|id| forest.ids.get(id).map(|&c| (c, *id)))
        .collect();
    let mut owner: Vec<Option<Part<'a>>> = vec![None; total];
    for &c in &preorder {
        owner[c] = match (cut_at.get(&c), forest.parent[c]) {
            (Some(id), _) => Some(Part::Cut(id)),
            (None, Some(p)) => owner[p],
            (None, None) => label[c].map(Part::Natural),
        };
    }
    let part_of = |id: &str| forest.ids.get(id).and_then(|&c| owner[c]);

    // Each part points at most at one other; a part's thread is the end of its chain. Every
    // pointer is set only where it closes no loop, so the chains end.
    let mut dest: HashMap<Part<'a>, Part<'a>> = HashMap::new();
    fn end<'a>(dest: &HashMap<Part<'a>, Part<'a>>, mut part: Part<'a>) -> Part<'a> {
        while let Some(&next) = dest.get(&part) {
            part = next;
        }
        part
    }
    for fix in fixes {
        match *fix {
            Fix::Split { message } => {
                dest.remove(&Part::Cut(message));
            }
            Fix::Move {
                message, target, ..
            } => {
                let me = Part::Cut(message);
                dest.remove(&me);
                if let Some(there) = part_of(target)
                    && end(&dest, there) != me
                {
                    dest.insert(me, there);
                }
            }
            Fix::Merge { message, target } => {
                if let (Some(from), Some(into)) = (part_of(message), part_of(target)) {
                    let (from, into) = (end(&dest, from), end(&dest, into));
                    if from != into {
                        dest.insert(from, into);
                    }
                }
            }
        }
    }
    (0..n)
        .map(|i| end(&dest, owner[i].unwrap_or(Part::Natural(labels[i]))))
        .collect()
}

/// The links of JWZ over `messages`, with `overrides` replacing the own parent of the messages
/// (or missing messages) they name.
fn linked<'a>(
    messages: &[ThreadMessage<'a>],
    overrides: &BTreeMap<&'a str, Option<&'a str>>,
) -> Forest<'a> {
    let n = messages.len();
    let mut forest = Forest::new(messages);

    // Strong links: every real message's own parent.
    for (i, m) in messages.iter().enumerate() {
        let parent = match overrides.get(m.id) {
            Some(fixed) => fixed.filter(|p| usable(p) && *p != m.id),
            None => direct_parent(m),
        };
        if let Some(p) = parent {
            let c = forest.container(p);
            if c != i {
                forest.link(i, c);
            }
        }
    }
    forest.break_loops(messages);

    // A missing message a moderator placed hangs where they said, before any chain speaks.
    for (&id, &parent) in overrides {
        let (Some(&c), Some(p)) = (forest.ids.get(id), parent) else {
            continue;
        };
        if c < n || forest.parent[c].is_some() {
            continue;
        }
        let p = forest.container(p);
        if p != c && !forest.is_ancestor_or_self(c, p) {
            forest.link(c, p);
        }
    }

    // Weak links: ghosts get parents from References chains, earliest message first.
    let mut by_date: Vec<usize> = (0..n).collect();
    by_date.sort_by(|&a, &b| order(messages, a, b));
    for &i in &by_date {
        let m = &messages[i];
        let mut chain: Vec<&str> = m
            .references
            .iter()
            .map(String::as_str)
            .filter(|id| usable(id) && *id != m.id)
            .collect();
        if let Some(irt) = m.in_reply_to.filter(|id| usable(id) && *id != m.id)
            && !chain.contains(&irt)
        {
            chain.push(irt);
        }
        for pair in chain.windows(2) {
            // A moderator's placement is not overruled by a chain.
            if overrides.contains_key(pair[1]) {
                continue;
            }
            let child = forest.container(pair[1]);
            if child < n || forest.parent[child].is_some() {
                continue;
            }
            let parent = forest.container(pair[0]);
            // A childless ghost cannot be an ancestor of anything: no walk needed (this keeps
            // a mail listing thousands of missing ancestors linear).
            let loops = parent == child
                || (forest.kids[child] > 0 && forest.is_ancestor_or_self(child, parent));
            if !loops {
                forest.link(child, parent);
            }
        }
    }
    forest
}

/// Sibling order: date, then id, then input position (only duplicates get that far).
fn order(messages: &[ThreadMessage], a: usize, b: usize) -> Ordering {
    let (x, y) = (&messages[a], &messages[b]);
    x.date
        .cmp(&y.date)
        .then_with(|| x.id.cmp(y.id))
        .then(a.cmp(&b))
}

/// Containers: indices `0..n` are the real messages, the rest ghosts.
struct Forest<'a> {
    ids: HashMap<&'a str, usize>,
    parent: Vec<Option<usize>>,
    /// How many containers name each one as parent.
    kids: Vec<u32>,
    real: usize,
}

impl<'a> Forest<'a> {
    fn new(messages: &[ThreadMessage<'a>]) -> Self {
        let mut ids = HashMap::with_capacity(messages.len() * 2);
        for (i, m) in messages.iter().enumerate() {
            // With duplicate ids (the caller's bug) the first message owns the id.
            if usable(m.id) {
                ids.entry(m.id).or_insert(i);
            }
        }
        Forest {
            ids,
            parent: vec![None; messages.len()],
            kids: vec![0; messages.len()],
            real: messages.len(),
        }
    }

    /// The container for `id`, a new ghost when no message has it.
    fn container(&mut self, id: &'a str) -> usize {
        if let Some(&c) = self.ids.get(id) {
            return c;
        }
        let c = self.parent.len();
        self.parent.push(None);
        self.kids.push(0);
        self.ids.insert(id, c);
        c
    }

    fn link(&mut self, child: usize, parent: usize) {
        self.parent[child] = Some(parent);
        self.kids[parent] += 1;
    }

    /// Walks up from `node`; only called while the links form a forest, so it ends.
    fn is_ancestor_or_self(&self, ancestor: usize, node: usize) -> bool {
        let mut cur = node;
        loop {
            if cur == ancestor {
                return true;
            }
            match self.parent[cur] {
                Some(p) => cur = p,
                None => return false,
            }
        }
    }

    /// Each container has at most one parent, so every loop is a simple cycle; each is cut at
    /// its earliest real message.
    fn break_loops(&mut self, messages: &[ThreadMessage]) {
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; self.parent.len()];
        let mut path = Vec::new();
        for start in 0..self.parent.len() {
            if state[start] != NEW {
                continue;
            }
            let mut cur = start;
            loop {
                match state[cur] {
                    DONE => break,
                    ON_PATH => {
                        let from = path.iter().rposition(|&c| c == cur).unwrap_or(0);
                        let cycle = &path[from..];
                        let cut = cycle
                            .iter()
                            .copied()
                            .filter(|&c| c < self.real)
                            .min_by(|&a, &b| order(messages, a, b))
                            .unwrap_or(cur);
                        if let Some(p) = self.parent[cut].take() {
                            self.kids[p] -= 1;
                        }
                        break;
                    }
                    _ => {}
                }
                state[cur] = ON_PATH;
                path.push(cur);
                match self.parent[cur] {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            for c in path.drain(..) {
                state[c] = DONE;
            }
        }
    }

    /// Each container's children, and the roots, in container order.
    fn children_and_roots(&self) -> (Vec<Vec<usize>>, Vec<usize>) {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); self.parent.len()];
        let mut roots = Vec::new();
        for (c, p) in self.parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(c),
                None => roots.push(c),
            }
        }
        (children, roots)
    }

    /// Drops the ghosts and lays the real messages out in thread order.
    fn placements(&self, messages: &[ThreadMessage]) -> Vec<Placement> {
        let (children, roots) = self.children_and_roots();

        // Nearest real ancestor and real depth, top-down.
        let mut real_parent: Vec<Option<usize>> = vec![None; self.real];
        let mut depth = vec![0u32; self.real];
        let mut preorder = Vec::with_capacity(self.real);
        let mut stack: Vec<(usize, Option<usize>, u32)> =
            roots.iter().map(|&r| (r, None, 0)).collect();
        while let Some((c, above, d)) = stack.pop() {
            let (below, next_depth) = if c < self.real {
                real_parent[c] = above;
                depth[c] = d;
                preorder.push(c);
                (Some(c), d + 1)
            } else {
                (above, d)
            };
            stack.extend(children[c].iter().map(|&k| (k, below, next_depth)));
        }
        debug_assert_eq!(preorder.len(), self.real, "the links form a forest");

        // The real forest, with each tree's earliest date (children come after parents in
        // `preorder`, so a reverse pass folds dates upwards).
        let mut real_children: Vec<Vec<usize>> = vec![Vec::new(); self.real];
        let mut real_roots = Vec::new();
        let mut earliest: Vec<i64> = messages.iter().map(|m| m.date).collect();
        for &c in preorder.iter().rev() {
            match real_parent[c] {
                Some(p) => {
                    real_children[p].push(c);
                    earliest[p] = earliest[p].min(earliest[c]);
                }
                None => real_roots.push(c),
            }
        }
        real_roots.sort_by(|&a, &b| earliest[a].cmp(&earliest[b]).then(order(messages, a, b)));
        for kids in &mut real_children {
            kids.sort_by(|&a, &b| order(messages, a, b));
        }

        let mut out = Vec::with_capacity(self.real);
        let mut stack: Vec<usize> = real_roots.into_iter().rev().collect();
        while let Some(c) = stack.pop() {
            out.push(Placement {
                index: c,
                parent: real_parent[c],
                depth: depth[c],
            });
            stack.extend(real_children[c].iter().rev());
        }
        out
    }
}

#[derive(Default)]
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn add(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            // Path halving keeps the walks short without recursion.
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Either root would do (numbers follow first appearance); the smaller is stable.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test message, as the archive keeps it; `view` lends it to the threader.
    type Msg = ThreadHeaders;

    fn msg(id: &str, date: i64) -> Msg {
        Msg {
            message_id: MessageId::new(id),
            references: Vec::new(),
            in_reply_to: None,
            fallback_parent: None,
            date: Some(date),
        }
    }

    impl Msg {
        fn refs(mut self, refs: &[&str]) -> Self {
            self.references = refs.iter().map(|r| (*r).to_owned()).collect();
            self
        }
        fn irt(mut self, irt: &str) -> Self {
            self.in_reply_to = Some(irt.to_owned());
            self
        }
        fn fallback(mut self, id: &str) -> Self {
            self.fallback_parent = Some(id.to_owned());
            self
        }
    }

    fn view(msgs: &[Msg]) -> Vec<ThreadMessage<'_>> {
        msgs.iter().map(Msg::thread_message).collect()
    }

    /// The arrangement by ids, in thread order: (id, parent id, depth). Also checks that every
    /// input comes back exactly once and that depths agree with parents.
    fn layout(msgs: &[Msg]) -> Vec<(String, Option<String>, u32)> {
        let placements = arrange(&view(msgs));
        let mut seen = vec![false; msgs.len()];
        let mut depth_of = vec![None; msgs.len()];
        for p in &placements {
            assert!(!seen[p.index], "index {} placed twice", p.index);
            seen[p.index] = true;
            let want = p.parent.map_or(0, |q| {
                depth_of[q].expect("a parent comes before its children") + 1
            });
            assert_eq!(p.depth, want, "depth of {}", msgs[p.index].message_id);
            depth_of[p.index] = Some(p.depth);
        }
        assert!(seen.iter().all(|&s| s), "every message placed");
        by_ids(msgs, &placements)
    }

    /// Placements as (id, parent id, depth).
    fn by_ids(msgs: &[Msg], placements: &[Placement]) -> Vec<(String, Option<String>, u32)> {
        placements
            .iter()
            .map(|p| {
                (
                    msgs[p.index].message_id.to_string(),
                    p.parent.map(|q| msgs[q].message_id.to_string()),
                    p.depth,
                )
            })
            .collect()
    }

    fn row(id: &str, parent: Option<&str>, depth: u32) -> (String, Option<String>, u32) {
        (id.to_owned(), parent.map(str::to_owned), depth)
    }

    /// A layout written as an outline: one id a line in thread order, indented two spaces
    /// deeper than its parent's.
    fn layout_of(outline: &[&str]) -> Vec<(String, Option<String>, u32)> {
        let mut path: Vec<&str> = Vec::new();
        outline
            .iter()
            .map(|line| {
                let id = line.trim_start();
                let depth = (line.len() - id.len()) / 2;
                assert!(depth <= path.len(), "{line:?} is deeper than a child");
                path.truncate(depth);
                let parent = path.last().copied();
                path.push(id);
                row(id, parent, depth as u32)
            })
            .collect()
    }

    /// Every permutation of `0..n`, iteratively (next lexicographic permutation).
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        let mut p: Vec<usize> = (0..n).collect();
        let mut all = vec![p.clone()];
        loop {
            let Some(i) = (1..n).rev().find(|&i| p[i - 1] < p[i]) else {
                return all;
            };
            let j = (i..n).rev().find(|&j| p[j] > p[i - 1]).unwrap();
            p.swap(i - 1, j);
            p[i..].reverse();
            all.push(p.clone());
        }
    }

    /// notmuch's test/gen-threads.py: every single-root thread shape of `n` messages, as the
    /// parent of each message (`None` for the root). There are n^(n-1) of them.
    fn shapes(n: usize) -> Vec<Vec<Option<usize>>> {
        let mut all = Vec::new();
        let choices = n + 1; // a parent index, or n meaning "root"
        for code in 0..choices.pow(n as u32) {
            let shape: Vec<Option<usize>> = (0..n)
                .map(|i| {
                    let c = code / choices.pow(i as u32) % choices;
                    (c < n).then_some(c)
                })
                .collect();
            let one_root = shape.iter().filter(|p| p.is_none()).count() == 1;
            let acyclic = (0..n).all(|start| {
                let mut cur = start;
                for _ in 0..=n {
                    match shape[cur] {
                        Some(p) => cur = p,
                        None => return true,
                    }
                }
                false
            });
            if one_root && acyclic {
                all.push(shape);
            }
        }
        all
    }

    fn ancestors(shape: &[Option<usize>], node: usize) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut cur = shape[node];
        while let Some(p) = cur {
            chain.push(p);
            cur = shape[p];
        }
        chain.reverse(); // root first, as References lists them
        chain
    }

    #[derive(Clone, Copy, Debug)]
    enum Headers {
        InReplyToOnly,
        FullReferences,
    }

    fn shape_messages(shape: &[Option<usize>], headers: Headers, same_date: bool) -> Vec<Msg> {
        (0..shape.len())
            .map(|n| {
                let date = if same_date {
                    978_709_437
                } else {
                    978_709_437 + n as i64
                };
                let m = msg(&format!("m{n}@t"), date);
                match (headers, shape[n]) {
                    (_, None) => m,
                    (Headers::InReplyToOnly, Some(p)) => m.irt(&format!("m{p}@t")),
                    (Headers::FullReferences, Some(_)) => {
                        let refs: Vec<String> = ancestors(shape, n)
                            .iter()
                            .map(|a| format!("m{a}@t"))
                            .collect();
                        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                        m.refs(&refs)
                    }
                }
            })
            .collect()
    }

    /// notmuch T260-thread-order: all 64 shapes of a 4-message thread, delivered in each of
    /// the 24 orders, with only In-Reply-To and with full References: always one thread, and
    /// the same arrangement, the shape itself, whatever the order.
    #[test]
    fn t260_every_shape_in_every_order() {
        let shapes = shapes(4);
        assert_eq!(shapes.len(), 64);
        let orders = permutations(4);
        assert_eq!(orders.len(), 24);
        for shape in &shapes {
            for headers in [Headers::InReplyToOnly, Headers::FullReferences] {
                for same_date in [true, false] {
                    let all = shape_messages(shape, headers, same_date);
                    let mut reference = None;
                    for order in &orders {
                        let msgs: Vec<Msg> = order.iter().map(|&i| all[i].clone()).collect();
                        let ctx = format!("shape {shape:?} {headers:?} order {order:?}");
                        assert_eq!(group(&view(&msgs)), vec![0; 4], "{ctx}");
                        let got = layout(&msgs);
                        for (id, parent, depth) in &got {
                            let n: usize = id[1..2].parse().unwrap();
                            let want_parent = shape[n].map(|p| format!("m{p}@t"));
                            assert_eq!(parent, &want_parent, "{ctx}: parent of {id}");
                            assert_eq!(*depth as usize, ancestors(shape, n).len(), "{ctx}");
                        }
                        match &reference {
                            None => reference = Some(got),
                            Some(r) => assert_eq!(&got, r, "{ctx}"),
                        }
                    }
                }
            }
        }
    }

    /// The same shapes with one message never delivered: with full References the rest is
    /// still one thread (the gap becomes a ghost), parents skip to the nearest real ancestor,
    /// and the order of delivery changes nothing.
    #[test]
    fn t260_with_a_missing_message() {
        for shape in &shapes(4) {
            let all = shape_messages(shape, Headers::FullReferences, false);
            for missing in 0..4 {
                let present: Vec<usize> = (0..4).filter(|&i| i != missing).collect();
                let mut reference = None;
                for order in permutations(3) {
                    let msgs: Vec<Msg> = order.iter().map(|&k| all[present[k]].clone()).collect();
                    let ctx = format!("shape {shape:?} missing m{missing} order {order:?}");
                    assert_eq!(group(&view(&msgs)), vec![0; 3], "{ctx}");
                    let got = layout(&msgs);
                    for (id, parent, _) in &got {
                        let n: usize = id[1..2].parse().unwrap();
                        let nearest = ancestors(shape, n)
                            .into_iter()
                            .rev()
                            .find(|&a| a != missing)
                            .map(|a| format!("m{a}@t"));
                        assert_eq!(parent, &nearest, "{ctx}: parent of {id}");
                    }
                    match &reference {
                        None => reference = Some(got),
                        Some(r) => assert_eq!(&got, r, "{ctx}"),
                    }
                }
            }
        }
    }

    /// Lays out every ordering of `msgs`, expecting the `outline` each time.
    fn same_in_every_order(msgs: &[Msg], outline: &[&str]) {
        let want = layout_of(outline);
        for order in permutations(msgs.len()) {
            let shuffled: Vec<Msg> = order.iter().map(|&i| msgs[i].clone()).collect();
            assert_eq!(layout(&shuffled), want, "order {order:?}");
        }
    }

    /// The parts of `msgs` (labelled by `labels`) under `fixes`, as (id, part) with parts
    /// written "n1" for natural thread 1 and "cut:x" for the thread cut at x.
    fn parts(msgs: &[Msg], labels: &[i64], fixes: &[Fix]) -> Vec<(String, String)> {
        let got = partition(&view(msgs), labels, fixes);
        msgs.iter()
            .zip(got)
            .map(|(m, p)| {
                let part = match p {
                    Part::Natural(l) => format!("n{l}"),
                    Part::Cut(id) => format!("cut:{id}"),
                };
                (m.message_id.to_string(), part)
            })
            .collect()
    }

    /// Checks `parts` in every input order, and returns the part of each id.
    fn parts_in_every_order(
        msgs: &[Msg],
        labels: &[i64],
        fixes: &[Fix],
    ) -> HashMap<String, String> {
        let want: HashMap<String, String> = parts(msgs, labels, fixes).into_iter().collect();
        for order in permutations(msgs.len()) {
            let shuffled: Vec<Msg> = order.iter().map(|&i| msgs[i].clone()).collect();
            let relabelled: Vec<i64> = order.iter().map(|&i| labels[i]).collect();
            let got: HashMap<String, String> =
                parts(&shuffled, &relabelled, fixes).into_iter().collect();
            assert_eq!(got, want, "order {order:?}");
        }
        want
    }

    /// A thread that went wrong: r, a answering r, x answering a (but really a new topic), d
    /// answering x, and b answering r.
    fn hijacked() -> Vec<Msg> {
        vec![
            msg("r", 1),
            msg("a", 2).irt("r").refs(&["r"]),
            msg("x", 3).irt("a").refs(&["r", "a"]),
            msg("d", 4).irt("x").refs(&["r", "a", "x"]),
            msg("b", 5).irt("r").refs(&["r"]),
        ]
    }

    fn merge<'a>(message: &'a str, target: &'a str) -> Fix<'a> {
        Fix::Merge { message, target }
    }

    fn part_table(got: &HashMap<String, String>, want: &[(&str, &str)]) {
        for (id, part) in want {
            assert_eq!(got[*id], *part, "part of {id} in {got:?}");
        }
    }

    #[test]
    fn a_split_takes_the_subtree_and_leaves_the_rest() {
        let msgs = hijacked();
        let got = parts_in_every_order(&msgs, &[1; 5], &[Fix::Split { message: "x" }]);
        part_table(
            &got,
            &[
                ("r", "n1"),
                ("a", "n1"),
                ("b", "n1"),
                ("x", "cut:x"),
                ("d", "cut:x"),
            ],
        );
        // Without fixes, everything stays in its natural thread.
        let got = parts_in_every_order(&msgs, &[1; 5], &[]);
        assert!(got.values().all(|p| p == "n1"), "{got:?}");
        // And the split thread is laid out with x as its root.
        let split: Vec<Msg> = msgs[2..4].to_vec();
        let placed = arrange_fixed(&view(&split), &[Fix::Split { message: "x" }]);
        assert_eq!(placed[0].parent, None);
        assert_eq!(
            (split[placed[1].index].message_id.as_str(), placed[1].depth),
            ("d", 1)
        );
    }

    #[test]
    fn a_split_follows_the_tree_not_the_references() {
        // A reply whose client kept only In-Reply-To, and one under a message that is not in
        // the archive (hidden, or never arrived) below x: both go with x.
        let mut msgs = hijacked();
        msgs.push(msg("e", 6).irt("d").refs(&["r"]));
        msgs.push(msg("f", 7).irt("gone").refs(&["r", "a", "x", "gone"]));
        let got = parts_in_every_order(&msgs, &[1; 7], &[Fix::Split { message: "x" }]);
        part_table(&got, &[("e", "cut:x"), ("f", "cut:x"), ("b", "n1")]);
        // A split at a message that is missing itself still holds its replies.
        let without_x: Vec<Msg> = msgs
            .iter()
            .filter(|m| m.message_id != "x")
            .cloned()
            .collect();
        let got = parts_in_every_order(&without_x, &[1; 6], &[Fix::Split { message: "x" }]);
        part_table(&got, &[("d", "cut:x"), ("f", "cut:x"), ("a", "n1")]);
    }

    #[test]
    fn moves_and_merges_point_parts_at_other_threads() {
        let mut msgs = hijacked();
        msgs.push(msg("s", 10));
        msgs.push(msg("t", 11).irt("s").refs(&["s"]));
        let labels = [1, 1, 1, 1, 1, 2, 2];
        // x (with d) moved under t: natural thread 2.
        let moved = [Fix::Move {
            message: "x",
            target: "t",
            as_reply: true,
        }];
        let got = parts_in_every_order(&msgs, &labels, &moved);
        part_table(&got, &[("x", "n2"), ("d", "n2"), ("a", "n1"), ("s", "n2")]);
        // Laid out in thread 2, x answers t.
        let there: Vec<Msg> = msgs[2..]
            .iter()
            .filter(|m| m.message_id != "b")
            .cloned()
            .collect();
        let placed = layout_fixed(&there, &moved);
        assert!(placed.contains(&row("x", Some("t"), 2)), "{placed:?}");
        assert!(placed.contains(&row("d", Some("x"), 3)), "{placed:?}");
        // Moved as a tree of its own, x is a root there.
        let as_root = [Fix::Move {
            message: "x",
            target: "t",
            as_reply: false,
        }];
        assert!(layout_fixed(&there, &as_root).contains(&row("x", None, 0)));

        // Thread 2 merged into thread 1: one thread, nothing re-parented.
        let merged = [merge("t", "b")];
        let got = parts_in_every_order(&msgs, &labels, &merged);
        assert!(got.values().all(|p| p == "n1"), "{got:?}");
        // Merged the other way round, thread 2 survives.
        let got = parts_in_every_order(&msgs, &labels, &[merge("r", "s")]);
        assert!(got.values().all(|p| p == "n2"), "{got:?}");
    }

    #[test]
    fn later_fixes_win_and_loops_are_refused() {
        let mut msgs = hijacked();
        msgs.push(msg("s", 10));
        let labels = [1, 1, 1, 1, 1, 2];
        // Thread 2 merged into 1, then its root split off again: the split wins.
        let got = parts_in_every_order(
            &msgs,
            &labels,
            &[merge("s", "r"), Fix::Split { message: "s" }],
        );
        part_table(&got, &[("s", "cut:s"), ("r", "n1")]);
        // A split part merged into another thread later goes with it.
        let got = parts_in_every_order(
            &msgs,
            &labels,
            &[Fix::Split { message: "x" }, merge("d", "s")],
        );
        part_table(&got, &[("x", "n2"), ("d", "n2"), ("a", "n1")]);
        // Moving x under its own reply would close a loop: x's subtree stays apart, as a split.
        let got = parts_in_every_order(
            &msgs,
            &labels,
            &[Fix::Move {
                message: "x",
                target: "d",
                as_reply: true,
            }],
        );
        part_table(&got, &[("x", "cut:x"), ("d", "cut:x"), ("a", "n1")]);
        // Two merges that point both ways end in one thread.
        let got = parts_in_every_order(&msgs, &labels, &[merge("s", "r"), merge("r", "s")]);
        assert!(got.values().all(|p| p == "n1"), "{got:?}");
        // Fixes naming messages that are not here change nothing.
        let got = parts_in_every_order(
            &msgs,
            &labels,
            &[
                Fix::Move {
                    message: "a",
                    target: "nowhere",
                    as_reply: true,
                },
                merge("elsewhere", "r"),
            ],
        );
        part_table(
            &got,
            &[("a", "cut:a"), ("x", "cut:a"), ("r", "n1"), ("s", "n2")],
        );
    }

    fn layout_fixed(msgs: &[Msg], fixes: &[Fix]) -> Vec<(String, Option<String>, u32)> {
        by_ids(msgs, &arrange_fixed(&view(msgs), fixes))
    }

    #[test]
    fn a_missing_message_placed_by_a_moderator_hangs_there() {
        // x is not in the archive; d answers it. Moved under b, d follows it there.
        let msgs = [
            msg("r", 1),
            msg("b", 2).irt("r").refs(&["r"]),
            msg("d", 4).irt("x").refs(&["r", "a", "x"]),
        ];
        let placed = layout_fixed(
            &msgs,
            &[Fix::Move {
                message: "x",
                target: "b",
                as_reply: true,
            }],
        );
        assert!(placed.contains(&row("d", Some("b"), 2)), "{placed:?}");
        // Without the fix, d hangs under r through the References chain.
        assert!(layout(&msgs).contains(&row("d", Some("r"), 1)));
        // Split at the missing x (and merged back into one thread): d heads a tree of its own;
        // the References chain does not hang x under a again.
        let msgs = [
            msg("r", 1),
            msg("a", 2).irt("r").refs(&["r"]),
            msg("d", 4).irt("x").refs(&["r", "a", "x"]),
        ];
        assert!(layout(&msgs).contains(&row("d", Some("a"), 2)));
        let placed = layout_fixed(&msgs, &[Fix::Split { message: "x" }]);
        assert!(placed.contains(&row("d", None, 0)), "{placed:?}");
    }

    #[test]
    fn fixed_arrangement_breaks_a_loop_a_fix_makes() {
        let msgs = hijacked();
        let placed = layout_fixed(
            &msgs,
            &[Fix::Move {
                message: "x",
                target: "d",
                as_reply: true,
            }],
        );
        assert_eq!(placed.len(), msgs.len());
    }

    #[test]
    fn ghost_roots() {
        // Two replies to a root that never arrived: one thread, two top-level trees.
        let msgs = [
            msg("b@x", 20).irt("root@x").refs(&["root@x"]),
            msg("c@x", 10).refs(&["root@x"]),
            msg("d@x", 30).irt("b@x").refs(&["root@x", "b@x"]),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 0, 0]);
        same_in_every_order(&msgs, &["c@x", "b@x", "  d@x"]);
    }

    /// notmuch's threading/ghost-root corpus: the fake root's own parent is missing, but its
    /// References place that ghost under `child`.
    #[test]
    fn ghost_in_the_middle_of_references() {
        let msgs = [
            msg("000-real-root", 100),
            msg("001-child", 200)
                .irt("000-real-root")
                .refs(&["000-real-root"]),
            msg("001-fake-message-root", 100)
                .irt("nonexistent-message")
                .refs(&["000-real-root", "001-child", "nonexistent-message"]),
            msg("001-grand-child", 300)
                .irt("001-child")
                .refs(&["000-real-root", "001-child"]),
            msg("001-great-grand-child", 500)
                .irt("001-grand-child")
                .refs(&["000-real-root", "001-grand-child"]),
            msg("001-grand-child2", 400)
                .irt("001-child")
                .refs(&["000-real-root", "001-child"]),
        ];
        same_in_every_order(
            &msgs,
            &[
                "000-real-root",
                "  001-child",
                "    001-fake-message-root",
                "    001-grand-child",
                "      001-great-grand-child",
                "    001-grand-child2",
            ],
        );
    }

    /// notmuch's threading/parent-priority corpus: In-Reply-To beats a References entry that
    /// names no message, and References listed in reverse order.
    #[test]
    fn parent_priority() {
        let msgs = [
            msg("B00-root", 100),
            msg("B01-child", 200).irt("B00-root").refs(&["B00--root"]),
            msg("B01-grand-child", 300)
                .irt("B01-child")
                .refs(&["B01-child", "B00-root"]),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 0, 0]);
        same_in_every_order(&msgs, &["B00-root", "  B01-child", "    B01-grand-child"]);
    }

    #[test]
    fn direct_parent_table() {
        let cases: &[(Msg, Option<&str>)] = &[
            (msg("m", 0), None),
            (msg("m", 0).irt("p"), Some("p")),
            (msg("m", 0).irt("p").refs(&["a", "b"]), Some("p")),
            (msg("m", 0).refs(&["a", "b"]), Some("b")),
            (msg("m", 0).irt("m").refs(&["a", "b"]), Some("b")),
            (msg("m", 0).refs(&["a", "m"]), Some("a")),
            (msg("m", 0).irt("").refs(&["a"]), Some("a")),
            (msg("m", 0).irt("bad id").refs(&["a"]), Some("a")),
            (msg("m", 0).fallback("f"), Some("f")),
            (msg("m", 0).refs(&["a"]).fallback("f"), Some("a")),
            (msg("m", 0).irt("p").fallback("f"), Some("p")),
            (msg("m", 0).refs(&["m"]).fallback("m"), None),
        ];
        for (m, want) in cases {
            let v = view(std::slice::from_ref(m));
            assert_eq!(
                direct_parent(&v[0]),
                *want,
                "refs {:?} irt {:?}",
                m.references,
                m.in_reply_to
            );
        }
    }

    #[test]
    fn fallback_parent_is_used_only_without_references() {
        let msgs = [
            msg("a", 1),
            msg("b", 2),
            msg("c", 3).fallback("a"),
            msg("d", 4).irt("b").fallback("elsewhere"),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 1, 0, 1]);
        same_in_every_order(&msgs, &["a", "  c", "b", "  d"]);
    }

    /// notmuch's broken/loop corpus: two messages replying to each other are one thread, the
    /// earlier one its root.
    #[test]
    fn loop_of_two() {
        let msgs = [
            msg("mid-loop-21", 200).irt("mid-loop-12"),
            msg("mid-loop-12", 100).irt("mid-loop-21"),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 0]);
        same_in_every_order(&msgs, &["mid-loop-12", "  mid-loop-21"]);
    }

    #[test]
    fn loops_through_references_and_ghosts() {
        // A three-message cycle by References: broken at the earliest message.
        let msgs = [
            msg("a", 10).refs(&["c"]),
            msg("b", 20).refs(&["a"]),
            msg("c", 30).refs(&["b"]),
        ];
        same_in_every_order(&msgs, &["a", "  b", "    c"]);
        // Ghost chains that disagree (g1 above g2, then g2 above g1): the earlier mail's
        // chain wins and no loop forms.
        let msgs = [
            msg("r", 0),
            msg("x", 10).refs(&["r", "g1", "g2"]),
            msg("y", 20).refs(&["g2", "g1"]),
        ];
        same_in_every_order(&msgs, &["r", "  x", "  y"]);
        // A message whose own parent is a ghost that a later chain would hang under it.
        let msgs = [msg("m", 10).irt("g"), msg("n", 20).refs(&["m", "g"])];
        same_in_every_order(&msgs, &["m", "n"]);
    }

    #[test]
    fn self_references_are_ignored() {
        let msgs = [
            msg("a", 1).irt("a").refs(&["a"]),
            msg("b", 2).irt("b").refs(&["a", "b"]),
            msg("c", 3).refs(&["c", "b", "c"]).fallback("c"),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 0, 0]);
        same_in_every_order(&msgs, &["a", "  b", "    c"]);
        let alone = [msg("s", 1).irt("s").refs(&["s"])];
        assert_eq!(group(&view(&alone)), vec![0]);
        assert_eq!(layout(&alone), [row("s", None, 0)]);
    }

    #[test]
    fn liar_references_are_survived() {
        // The liar's References put the root under the reply: the root's own headers (none)
        // keep it a root, and the liar still hangs under its In-Reply-To.
        let msgs = [
            msg("root", 1),
            msg("reply", 2).irt("root").refs(&["root"]),
            msg("liar", 3).irt("reply").refs(&["reply", "root"]),
            msg("liar2", 4).refs(&["unrelated", "reply", "nope"]),
        ];
        assert_eq!(group(&view(&msgs)), vec![0; 4]);
        same_in_every_order(&msgs, &["root", "  reply", "    liar", "    liar2"]);
        // An existing ghost link is not overridden by a later chain: the earlier mail says
        // the missing `g` answers `a`, so both replies to `g` sit under `a`.
        let msgs = [
            msg("a", 1),
            msg("b", 2),
            msg("m1", 10).refs(&["a", "g"]),
            msg("m2", 20).refs(&["b", "g"]),
        ];
        same_in_every_order(&msgs, &["a", "  m1", "  m2", "b"]);
    }

    /// Runs `f` on a thread with a small stack: a recursive threader would overflow it.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deep_chain_is_iterative() {
        const DEPTH: usize = 10_000;
        on_small_stack(|| {
            // Delivered newest first, each naming only its direct parent.
            let msgs: Vec<Msg> = (0..DEPTH)
                .rev()
                .map(|i| {
                    let m = msg(&format!("m{i}"), i as i64);
                    if i == 0 {
                        m
                    } else {
                        m.irt(&format!("m{}", i - 1))
                    }
                })
                .collect();
            assert!(group(&view(&msgs)).iter().all(|&g| g == 0));
            let placements = arrange(&view(&msgs));
            assert_eq!(placements.len(), DEPTH);
            for (depth, p) in placements.iter().enumerate() {
                assert_eq!(msgs[p.index].message_id, format!("m{depth}"));
                assert_eq!(p.depth as usize, depth);
            }

            // One mail whose References name 10,000 missing ancestors: a deep ghost chain.
            let refs: Vec<String> = (0..DEPTH).map(|i| format!("ghost{i}")).collect();
            let lone = [Msg {
                references: refs,
                ..msg("leaf", 0)
            }];
            assert_eq!(
                arrange(&view(&lone)),
                [Placement {
                    index: 0,
                    parent: None,
                    depth: 0
                }]
            );

            // A cycle as long as the chain.
            let ring: Vec<Msg> = (0..DEPTH)
                .map(|i| msg(&format!("r{i}"), i as i64).irt(&format!("r{}", (i + 1) % DEPTH)))
                .collect();
            let placements = arrange(&view(&ring));
            assert_eq!(placements[0].index, 0);
            assert_eq!(placements.last().unwrap().depth as usize, DEPTH - 1);
        });
    }

    #[test]
    fn duplicate_ids_do_not_panic() {
        let msgs = [
            msg("a", 1),
            msg("a", 2).irt("a"),
            msg("b", 3).irt("a"),
            msg("b", 4).irt("b"),
            msg("", 5),
            msg("", 6).irt(""),
        ];
        let placed = layout(&msgs);
        assert_eq!(placed.len(), msgs.len());
        let groups = group(&view(&msgs));
        assert_eq!(groups[..4], [0, 0, 0, 0]);
        assert_ne!(groups[4], groups[5], "empty ids join nothing");
    }

    #[test]
    fn groups_are_dense_and_follow_the_input() {
        let msgs = [
            msg("x1", 1),
            msg("y1", 2).refs(&["ghost"]),
            msg("x2", 3).irt("x1"),
            msg("z", 4),
            msg("y2", 5).irt("ghost"),
        ];
        assert_eq!(group(&view(&msgs)), vec![0, 1, 0, 2, 1]);
        assert!(group(&[]).is_empty());
        assert!(arrange(&[]).is_empty());
    }

    #[test]
    fn roots_ordered_by_their_trees_earliest_date() {
        // `late` is a root newer than `early`, but its tree holds the oldest message (a
        // skewed clock): trees go by their earliest date.
        let msgs = [
            msg("early", 10),
            msg("late", 20),
            msg("skewed", 5).irt("late"),
        ];
        same_in_every_order(&msgs, &["late", "  skewed", "early"]);
    }
}
