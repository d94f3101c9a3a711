//! `tracestate`: its grammar, and [`TraceState`]'s parsing, editing and
//! truncation.

use super::text::is_ows;
use super::{LONG_MEMBER, MAX_MEMBERS, TraceStateError};
use crate::trace::context::TraceState;

/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`
fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, the grammar of W3C Trace
/// Context Level 2: one length limit for the whole key, and `@` (which
/// Level 1 used to split tenant and system) allowed anywhere after the first
/// character, any number of times.
fn valid_key(key: &str) -> bool {
    match key.as_bytes().split_first() {
        Some((&first, rest)) => {
            (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.len() <= 255
                && rest.iter().all(|&c| is_key_char(c))
        }
        None => false,
    }
}

/// `0*255(chr) nblk-chr`, where `chr` is 0x20..=0x7E but `,` and `=`.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b.last() != Some(&b' ')
}

/// Header length of `members` joined by commas.
fn joined_len(members: &[&str]) -> usize {
    members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
}

impl TraceState {
    /// Parses a `tracestate` header value (several fields joined by `,`).
    /// Returns `None` if it is invalid: a member breaking the grammar or more
    /// than 32 distinct keys. A key that appears again is a duplicate: the
    /// leftmost (most recent) member is kept and the later ones are dropped,
    /// rather than losing the whole header. Empty and whitespace-only members
    /// are ignored; an empty or blank header is the empty state. The state
    /// keeps the members joined by `,` without optional whitespace.
    pub fn parse(header: &str) -> Option<TraceState> {
        let mut members: Vec<(&str, &str)> = Vec::new();
        for raw in header.split(',') {
            let member = raw.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            if members.iter().any(|&(k, _)| k == key) {
                continue;
            }
            if members.len() == MAX_MEMBERS {
                return None;
            }
            members.push((key, value));
        }
        let mut text = String::with_capacity(header.len());
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        }
        Some(TraceState::from_validated(&text))
    }

    /// The (key, value) members, leftmost (most recent) first.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_str().split(',').filter_map(|m| m.split_once('='))
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// A copy with `key` set to `value`. The entry goes to the front (left), as
    /// the specification requires for new and updated entries; any previous
    /// entry for `key` is removed, and members beyond 32 are dropped from the
    /// end.
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        if !valid_key(key) {
            return Err(TraceStateError::InvalidKey);
        }
        if !valid_value(value) {
            return Err(TraceStateError::InvalidValue);
        }
        let mut text = String::with_capacity(key.len() + value.len() + 2 + self.as_str().len());
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        for (k, v) in self
            .members()
            .filter(|&(k, _)| k != key)
            .take(MAX_MEMBERS - 1)
        {
            text.push(',');
            text.push_str(k);
            text.push('=');
            text.push_str(v);
        }
        Ok(TraceState::from_validated(&text))
    }

    /// A copy without the entry for `key` (the same state if there is none).
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let kept: Vec<&str> = self
            .as_str()
            .split(',')
            .filter(|m| m.split_once('=').is_none_or(|(k, _)| k != key))
            .collect();
        TraceState::from_validated(&kept.join(","))
    }

    /// A copy whose header is at most `limit` characters, by the
    /// specification's rule: whole members are removed, first those longer than
    /// 128 characters starting from the end, then others from the end, until the
    /// rest fits. The same state if it already fits.
    pub fn truncated(&self, limit: usize) -> TraceState {
        let text = self.as_str();
        if text.len() <= limit {
            return self.clone();
        }
        let mut members: Vec<&str> = text.split(',').collect();
        let mut i = members.len();
        while i > 0 && joined_len(&members) > limit {
            i -= 1;
            if members[i].len() > LONG_MEMBER {
                members.remove(i);
            }
        }
        while joined_len(&members) > limit {
            members.pop();
        }
        TraceState::from_validated(&members.join(","))
    }
}
