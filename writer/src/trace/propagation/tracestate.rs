//! `tracestate`: its grammar, and [`TraceState`]'s parsing, editing and
//! truncation.

use super::text::is_ows;
use super::{LONG_MEMBER, MAX_MEMBERS, TraceStateError};
use crate::trace::context::TraceState;

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`
fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `first` then up to `max_rest` key characters.
fn key_part(s: &[u8], first: fn(u8) -> bool, max_rest: usize) -> bool {
    match s.split_first() {
        Some((&c, rest)) => {
            first(c) && rest.len() <= max_rest && rest.iter().all(|&c| is_key_char(c))
        }
        None => false,
    }
}

/// `simple-key / tenant-id "@" system-id`
fn valid_key(key: &str) -> bool {
    let lcalpha = |c: u8| c.is_ascii_lowercase();
    match key.split_once('@') {
        None => key_part(key.as_bytes(), lcalpha, 255),
        Some((tenant, system)) => {
            key_part(
                tenant.as_bytes(),
                |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
                240,
            ) && key_part(system.as_bytes(), lcalpha, 13)
        }
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
    /// Returns `None` if it is invalid: a member breaking the grammar, a
    /// duplicate key or more than 32 members. Empty and whitespace-only members
    /// are ignored; an empty or blank header is the empty state. The state keeps
    /// the members joined by `,` without optional whitespace.
    pub fn parse(header: &str) -> Option<TraceState> {
        let mut members: Vec<(&str, &str)> = Vec::new();
        for raw in header.split(',') {
            let member = raw.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if members.len() == MAX_MEMBERS
                || !valid_key(key)
                || !valid_value(value)
                || members.iter().any(|&(k, _)| k == key)
            {
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
