//! One test per rule of W3C Trace Context Level 2, and the binary form.

use super::text::is_ows;
use super::*;
use crate::trace::context::{SpanId, TraceId, TraceState};

const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TRACE_HEX: &str = "12345678901234567890123456789012";
const SPAN_HEX: &str = "1234567890123456";

fn tp(header: &str) -> Result<SpanContext, ExtractError> {
    extract(Some(header), None)
}

fn ok(header: &str) -> SpanContext {
    match tp(header) {
        Ok(ctx) => ctx,
        Err(e) => panic!("{header:?} should parse, got {e}"),
    }
}

fn malformed(header: &str) {
    assert!(
        matches!(tp(header), Err(ExtractError::Malformed(_))),
        "{header:?} should be malformed: {:?}",
        tp(header)
    );
}

fn state(header: &str) -> TraceState {
    extract(Some(TP), Some(header)).unwrap().trace_state
}

fn sample_ctx() -> SpanContext {
    SpanContext {
        trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags: TraceFlags(0x03),
        is_remote: false,
        trace_state: TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap(),
    }
}

// ---- traceparent -------------------------------------------------------

#[test]
fn valid_traceparent_parses_as_remote() {
    let ctx = ok(TP);
    assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
    assert_eq!(ctx.span_id.to_hex(), SPAN_HEX);
    assert_eq!(ctx.flags, TraceFlags(0x01));
    assert!(ctx.is_remote);
    assert!(ctx.trace_state.is_empty());
    assert!(
        !ok("00-12345678901234567890123456789012-1234567890123456-00")
            .flags
            .is_sampled()
    );
}

#[test]
fn missing_or_blank_traceparent_is_missing() {
    assert_eq!(extract(None, None), Err(ExtractError::Missing));
    assert_eq!(tp(""), Err(ExtractError::Missing));
    assert_eq!(tp(" \t "), Err(ExtractError::Missing));
}

#[test]
fn tracestate_without_traceparent_is_ignored() {
    assert_eq!(extract(None, Some("foo=1")), Err(ExtractError::Missing));
}

#[test]
fn traceparent_leading_and_trailing_whitespace_is_ignored() {
    for h in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_eq!(ok(h).trace_id.to_hex(), TRACE_HEX, "{h:?}");
    }
    // Only space and tab are optional whitespace.
    malformed("\n00-12345678901234567890123456789012-1234567890123456-01");
    malformed("00-12345678901234567890123456789012-1234567890123456-01\r\n");
}

#[test]
fn version_ff_is_invalid() {
    assert_eq!(
        tp("ff-12345678901234567890123456789012-1234567890123456-01"),
        Err(ExtractError::VersionFF)
    );
    assert_eq!(
        tp("ff-12345678901234567890123456789012-1234567890123456-01-x"),
        Err(ExtractError::VersionFF)
    );
}

#[test]
fn version_illegal_characters_is_invalid() {
    malformed(".0-12345678901234567890123456789012-1234567890123456-01");
    malformed("0.-12345678901234567890123456789012-1234567890123456-01");
    malformed("0g-12345678901234567890123456789012-1234567890123456-01");
}

#[test]
fn version_too_long_or_too_short_is_invalid() {
    malformed("000-12345678901234567890123456789012-1234567890123456-01");
    malformed("0000-12345678901234567890123456789012-1234567890123456-01");
    malformed("0-12345678901234567890123456789012-1234567890123456-01");
    malformed("00");
    malformed("00-");
}

#[test]
fn uppercase_version_is_invalid() {
    malformed("CC-12345678901234567890123456789012-1234567890123456-01");
    malformed("0A-12345678901234567890123456789012-1234567890123456-01");
}

#[test]
fn uppercase_trace_id_is_invalid() {
    malformed("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    malformed("00-4bf92f3577b34da6a3ce929d0e0e473A-00f067aa0ba902b7-01");
    assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok());
}

#[test]
fn uppercase_parent_id_is_invalid() {
    malformed("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01");
}

#[test]
fn uppercase_flags_are_invalid() {
    malformed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A");
}

#[test]
fn version_00_with_extra_fields_is_invalid() {
    malformed("00-12345678901234567890123456789012-1234567890123456-01.");
    malformed(
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    );
    malformed("00-12345678901234567890123456789012-1234567890123456-01-");
}

#[test]
fn higher_version_parses() {
    let ctx = ok("cc-12345678901234567890123456789012-1234567890123456-01");
    assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
    assert_eq!(ctx.span_id.to_hex(), SPAN_HEX);
    assert!(ctx.flags.is_sampled());
    assert!(tp("01-12345678901234567890123456789012-1234567890123456-01").is_ok());
    assert!(tp("fe-12345678901234567890123456789012-1234567890123456-01").is_ok());
}

#[test]
fn higher_version_with_extra_fields_parses() {
    let ctx =
        ok("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like");
    assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
    assert!(tp("cc-12345678901234567890123456789012-1234567890123456-01-").is_ok());
    // Unknown fields are not examined.
    assert!(tp("cc-12345678901234567890123456789012-1234567890123456-01-XYZ-é").is_ok());
}

#[test]
fn higher_version_without_dash_after_flags_is_invalid() {
    malformed(
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
    );
    malformed("cc-12345678901234567890123456789012-1234567890123456-012");
}

#[test]
fn higher_version_shorter_than_55_is_invalid() {
    malformed("cc-12345678901234567890123456789012-1234567890123456-1");
    malformed("cc-12345678901234567890123456789012-1234567890123456");
}

#[test]
fn higher_version_keeps_only_known_flags() {
    assert_eq!(
        ok("cc-12345678901234567890123456789012-1234567890123456-ff").flags,
        TraceFlags(0x03)
    );
    assert_eq!(
        ok("cc-12345678901234567890123456789012-1234567890123456-fc-x").flags,
        TraceFlags(0x00)
    );
}

#[test]
fn version_00_keeps_unknown_flag_bits_raw() {
    let ctx = ok("00-12345678901234567890123456789012-1234567890123456-ff");
    assert_eq!(ctx.flags, TraceFlags(0xff));
    assert!(ctx.flags.is_sampled() && ctx.flags.is_random());
    let ctx = ok("00-12345678901234567890123456789012-1234567890123456-08");
    assert!(!ctx.flags.is_sampled() && !ctx.flags.is_random());
    // Re-emitted unchanged (pass-through).
    assert_eq!(
        traceparent(&ctx),
        "00-12345678901234567890123456789012-1234567890123456-08"
    );
}

#[test]
fn trace_id_all_zero_is_invalid() {
    assert_eq!(
        tp("00-00000000000000000000000000000000-1234567890123456-01"),
        Err(ExtractError::ZeroTraceId)
    );
    assert_eq!(
        tp("cc-00000000000000000000000000000000-1234567890123456-01-x"),
        Err(ExtractError::ZeroTraceId)
    );
}

#[test]
fn parent_id_all_zero_is_invalid() {
    assert_eq!(
        tp("00-12345678901234567890123456789012-0000000000000000-01"),
        Err(ExtractError::ZeroSpanId)
    );
}

#[test]
fn trace_id_illegal_characters_is_invalid() {
    malformed("00-.2345678901234567890123456789012-1234567890123456-01");
    malformed("00-1234567890123456789012345678901.-1234567890123456-01");
    malformed("00-1234567890123456789012345678901g-1234567890123456-01");
}

#[test]
fn trace_id_wrong_length_is_invalid() {
    malformed("00-123456789012345678901234567890123-1234567890123456-01");
    malformed("00-1234567890123456789012345678901-1234567890123456-01");
}

#[test]
fn parent_id_illegal_characters_is_invalid() {
    malformed("00-12345678901234567890123456789012-.234567890123456-01");
    malformed("00-12345678901234567890123456789012-123456789012345.-01");
}

#[test]
fn parent_id_wrong_length_is_invalid() {
    malformed("00-12345678901234567890123456789012-12345678901234567-01");
    malformed("00-12345678901234567890123456789012-123456789012345-01");
}

#[test]
fn flags_illegal_characters_is_invalid() {
    malformed("00-12345678901234567890123456789012-1234567890123456-.0");
    malformed("00-12345678901234567890123456789012-1234567890123456-0.");
}

#[test]
fn flags_wrong_length_is_invalid() {
    malformed("00-12345678901234567890123456789012-1234567890123456-001");
    malformed("00-12345678901234567890123456789012-1234567890123456-1");
}

#[test]
fn wrong_delimiters_are_invalid() {
    malformed("00_12345678901234567890123456789012-1234567890123456-01");
    malformed("00-12345678901234567890123456789012_1234567890123456-01");
    malformed("00-12345678901234567890123456789012-1234567890123456_01");
}

#[test]
fn duplicated_traceparent_joined_by_comma_is_invalid() {
    malformed(&format!("{TP},{TP}"));
    malformed(
        "cc-12345678901234567890123456789012-1234567890123456-01,cc-12345678901234567890123456789012-1234567890123456-01",
    );
}

#[test]
fn non_ascii_traceparent_is_invalid() {
    // Multi-byte characters across every field boundary must not panic.
    malformed("00-1234567890123456789012345678901é-1234567890123456-01");
    malformed("é0-12345678901234567890123456789012-1234567890123456-01");
    malformed("00-12345678901234567890123456789012-123456789012345é-1");
    malformed("00-12345678901234567890123456789012-1234567890123456-é");
    malformed("cc-12345678901234567890123456789012-1234567890123456-01é");
}

// ---- tracestate parsing ---------------------------------------------------

#[test]
fn tracestate_is_kept_with_valid_traceparent() {
    let s = state("foo=1,bar=2");
    assert_eq!(s.get("foo"), Some("1"));
    assert_eq!(s.get("bar"), Some("2"));
    assert_eq!(s.as_str(), "foo=1,bar=2");
}

#[test]
fn invalid_tracestate_keeps_valid_traceparent() {
    let ctx = extract(Some(TP), Some("foo=1,FOO=2")).unwrap();
    assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
    assert!(ctx.trace_state.is_empty());
    let ctx = extract(Some(TP), Some("\u{0}garbage\u{ff}")).unwrap();
    assert!(ctx.trace_state.is_empty());
}

#[test]
fn tracestate_empty_header_is_empty() {
    assert!(state("").is_empty());
    assert!(state(" \t ").is_empty());
    assert!(state(",, , \t,").is_empty());
    assert_eq!(TraceState::parse(""), Some(TraceState::EMPTY));
}

#[test]
fn tracestate_empty_members_are_ignored() {
    assert_eq!(state("foo=1,,bar=2").as_str(), "foo=1,bar=2");
    assert_eq!(state(",foo=1, ,bar=2,").as_str(), "foo=1,bar=2");
    // Two header fields, one empty, joined as HTTP does.
    assert_eq!(state("foo=1,").as_str(), "foo=1");
    assert_eq!(state(",foo=1").as_str(), "foo=1");
}

#[test]
fn tracestate_optional_whitespace_is_removed() {
    for h in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        assert_eq!(state(h).as_str(), "foo=1,bar=2,baz=3", "{h:?}");
    }
    for h in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(state(h).as_str(), "foo=1", "{h:?}");
    }
}

#[test]
fn tracestate_multiple_headers_joined_keep_order() {
    let s = state("foo=1,bar=2,rojo=1,congo=2,baz=3");
    let keys: Vec<&str> = s.members().map(|(k, _)| k).collect();
    assert_eq!(keys, ["foo", "bar", "rojo", "congo", "baz"]);
}

#[test]
fn tracestate_duplicate_keys_keep_the_leftmost_member() {
    // Level 2: a duplicate must not discard the header; the leftmost (most
    // recent) member of a key stays, later ones go.
    let keys_values = |h: &str| -> Vec<(String, String)> {
        state(h)
            .members()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let kv = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(keys_values("foo=1,foo=1"), kv(&[("foo", "1")]));
    assert_eq!(keys_values("foo=1,foo=2"), kv(&[("foo", "1")]));
    assert_eq!(
        keys_values("foo=1,bar=2,foo=3"),
        kv(&[("foo", "1"), ("bar", "2")])
    );
    assert_eq!(keys_values("a@b=1,a@b=2"), kv(&[("a@b", "1")]));
    assert_eq!(state("a@b=1,a@c=2").members().count(), 2);
    // Duplicates do not count towards the 32 members.
    let mut h: Vec<String> = (1..=32).map(|i| format!("bar{i:02}={i:02}")).collect();
    h.push("bar01=99".into());
    let s = state(&h.join(","));
    assert_eq!(s.members().count(), 32);
    assert_eq!(s.get("bar01"), Some("01"));
    // A duplicate is still checked against the grammar.
    assert!(state("foo=1,foo=bad=value").is_empty());
}

#[test]
fn tracestate_32_members_is_kept() {
    let h: Vec<String> = (1..=32).map(|i| format!("bar{i:02}={i:02}")).collect();
    let s = state(&h.join(","));
    assert_eq!(s.members().count(), 32);
    assert_eq!(s.get("bar01"), Some("01"));
    // Empty members do not count towards the limit.
    let s = state(&format!("{},,,", h.join(",,")));
    assert_eq!(s.members().count(), 32);
}

#[test]
fn tracestate_33_members_is_dropped() {
    let h: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    assert!(state(&h.join(",")).is_empty());
    assert_eq!(TraceState::parse(&h.join(",")), None);
}

#[test]
fn tracestate_all_allowed_characters_are_kept() {
    let key: String = ('a'..='z').chain('0'..='9').chain("_-*/".chars()).collect();
    let key_with_vendor = format!("{key}@a-z0-9_-*/");
    let value: String = (0x20u8..=0x7e)
        .filter(|c| *c != b',' && *c != b'=')
        .map(char::from)
        .collect();
    let s = state(&format!("{key}={value}"));
    assert_eq!(s.get(&key), Some(value.as_str()));
    let s = state(&format!("{key_with_vendor}={value}"));
    assert_eq!(s.get(&key_with_vendor), Some(value.as_str()));
}

#[test]
fn tracestate_key_illegal_characters_is_dropped() {
    for h in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "_foo=1",
        "*foo=1",
        "=1",
        "foo",
        "foo\t=1",
        "fé=1",
        "@foo=1,bar=2",
        "_foo@bar=1",
        "foo@Bar=1",
    ] {
        assert!(state(h).is_empty(), "{h:?}");
    }
}

#[test]
fn tracestate_keys_with_at_parse() {
    // Level 2 key grammar: ( lcalpha / DIGIT ) 0*255 keychar, with "@" a
    // keychar anywhere after the first character.
    let keys = [
        "tenant@vendor",
        "1tenant@v",
        "a@b-c_d*e/f",
        "foo@",
        "foo@@bar",
        "foo@bar@baz",
        "foo@1bar",
        "1foo",
        "0",
    ];
    let header: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k}={i}"))
        .collect();
    let s = state(&header.join(","));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get(k), Some(i.to_string().as_str()), "{k}");
    }
}

#[test]
fn tracestate_key_length_limits() {
    let z = |n| "z".repeat(n);
    assert_eq!(state(&format!("foo=1,{}=1", z(256))).get("foo"), Some("1"));
    assert!(state(&format!("foo=1,{}=1", z(257))).is_empty());
    // 256 characters with "@" at position 242: no separate tenant and
    // system lengths any more.
    let key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    assert_eq!(key.len(), 256);
    assert_eq!(state(&format!("foo=1,{key}=1")).get(&key), Some("1"));
    let key = format!("{}@v", "t".repeat(242));
    assert_eq!(state(&format!("foo=1,{key}=1")).get(&key), Some("1"));
    let key = format!("t@{}", "v".repeat(15));
    assert_eq!(state(&format!("foo=1,{key}=1")).get(&key), Some("1"));
    assert!(state(&format!("foo=1,{}@v=1", "t".repeat(255))).is_empty());
}

#[test]
fn tracestate_value_illegal_characters_is_dropped() {
    for h in [
        "foo=bar=baz",
        "foo=,bar=3",
        "foo=",
        "foo=a\tb",
        "foo=é",
        "foo=\u{7f}",
        "foo=\u{1}",
    ] {
        assert!(state(h).is_empty(), "{h:?}");
    }
}

#[test]
fn tracestate_value_with_spaces_is_kept() {
    let s = state("foo=a b c,bar= lead,baz=trail  ");
    assert_eq!(s.get("foo"), Some("a b c"));
    // Leading spaces belong to the value; trailing ones are optional whitespace.
    assert_eq!(s.get("bar"), Some(" lead"));
    assert_eq!(s.get("baz"), Some("trail"));
    assert_eq!(s.as_str(), "foo=a b c,bar= lead,baz=trail");
}

#[test]
fn tracestate_value_length_limits() {
    assert_eq!(
        state(&format!("foo={}", "v".repeat(256)))
            .get("foo")
            .map(str::len),
        Some(256)
    );
    assert!(state(&format!("foo={}", "v".repeat(257))).is_empty());
}

// ---- TraceState API -------------------------------------------------------

#[test]
fn get_missing_key_is_none() {
    assert_eq!(state("foo=1").get("bar"), None);
    assert_eq!(TraceState::EMPTY.get("foo"), None);
    assert_eq!(TraceState::EMPTY.members().count(), 0);
}

#[test]
fn insert_new_entry_goes_first() {
    let s = TraceState::parse("congo=t61rcWkgMzE")
        .unwrap()
        .insert("rojo", "00f067aa0ba902b7")
        .unwrap();
    assert_eq!(s.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_eq!(TraceState::EMPTY.insert("a", "1").unwrap().as_str(), "a=1");
}

#[test]
fn insert_moves_updated_entry_to_front() {
    let s = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
    let s = s.insert("congo", "ucfJifl5GOE").unwrap();
    assert_eq!(s.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
}

#[test]
fn insert_rejects_invalid_entries() {
    let s = TraceState::EMPTY;
    assert_eq!(s.insert("Foo", "1"), Err(TraceStateError::InvalidKey));
    assert_eq!(s.insert("", "1"), Err(TraceStateError::InvalidKey));
    assert_eq!(s.insert("@a", "1"), Err(TraceStateError::InvalidKey));
    assert_eq!(s.insert("_a", "1"), Err(TraceStateError::InvalidKey));
    assert_eq!(
        s.insert(&"a".repeat(257), "1"),
        Err(TraceStateError::InvalidKey)
    );
    // Level 2 keys: "@" anywhere after the first character.
    assert_eq!(
        s.insert("a@", "1").map(|s| s.as_str().to_string()),
        Ok("a@=1".into())
    );
    assert_eq!(s.insert("foo", ""), Err(TraceStateError::InvalidValue));
    assert_eq!(s.insert("foo", "a,b"), Err(TraceStateError::InvalidValue));
    assert_eq!(s.insert("foo", "a=b"), Err(TraceStateError::InvalidValue));
    assert_eq!(
        s.insert("foo", "trailing "),
        Err(TraceStateError::InvalidValue)
    );
    assert!(s.insert("foo", " leading").is_ok());
}

#[test]
fn insert_keeps_at_most_32_members() {
    let h: Vec<String> = (1..=32).map(|i| format!("k{i}={i}")).collect();
    let s = TraceState::parse(&h.join(","))
        .unwrap()
        .insert("new", "x")
        .unwrap();
    assert_eq!(s.members().count(), 32);
    assert_eq!(s.members().next(), Some(("new", "x")));
    assert_eq!(s.get("k32"), None);
    assert_eq!(s.get("k31"), Some("31"));
    // Updating an existing key of a full list drops nothing.
    let s = TraceState::parse(&h.join(","))
        .unwrap()
        .insert("k32", "y")
        .unwrap();
    assert_eq!(s.members().count(), 32);
    assert_eq!(s.get("k1"), Some("1"));
    assert_eq!(TraceState::parse(s.as_str()), Some(s));
}

#[test]
fn remove_deletes_only_that_member() {
    let s = TraceState::parse("a=1,b=2,c=3").unwrap();
    assert_eq!(s.remove("b").as_str(), "a=1,c=3");
    assert_eq!(s.remove("a").remove("c").remove("b"), TraceState::EMPTY);
    assert_eq!(s.remove("zz"), s);
}

#[test]
fn members_iterates_left_to_right() {
    let s = TraceState::parse("a=1, b= x ,c@d=3").unwrap();
    let m: Vec<(&str, &str)> = s.members().collect();
    assert_eq!(m, [("a", "1"), ("b", " x"), ("c@d", "3")]);
}

fn member(key: &str, len: usize) -> String {
    format!("{key}={}", "v".repeat(len - key.len() - 1))
}

#[test]
fn truncation_is_noop_when_it_fits() {
    let s = TraceState::parse("a=1,b=2").unwrap();
    assert_eq!(s.truncated(7), s);
    assert_eq!(s.truncated(6).as_str(), "a=1");
    assert_eq!(s.truncated(0), TraceState::EMPTY);
}

#[test]
fn truncation_removes_long_members_first() {
    // 100 + 200 + 100 + 150 + 100 + 4 commas = 654 > 512.
    let members = [
        member("a", 100),
        member("b", 200),
        member("c", 100),
        member("d", 150),
        member("e", 100),
    ];
    let s = TraceState::parse(&members.join(",")).unwrap();
    // Removing d (the last long one) gives 503: fits, b stays.
    let t = s.truncated(512);
    let keys: Vec<&str> = t.members().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b", "c", "e"]);
    assert!(t.as_str().len() <= 512);
    // With a lower limit both long members go before any short one.
    let keys: Vec<String> = s
        .truncated(302)
        .members()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(keys, ["a", "c", "e"]);
}

#[test]
fn truncation_then_removes_from_the_end() {
    let members = [
        member("a", 100),
        member("b", 200),
        member("c", 100),
        member("d", 100),
        member("e", 100),
    ];
    let s = TraceState::parse(&members.join(",")).unwrap();
    // Without b: 403 fits 420.
    let keys: Vec<String> = s
        .truncated(420)
        .members()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(keys, ["a", "c", "d", "e"]);
    // Without b and e: 302.
    let keys: Vec<String> = s
        .truncated(350)
        .members()
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(keys, ["a", "c", "d"]);
}

// ---- formatting and injection -----------------------------------------------

#[test]
fn format_traceparent_writes_version_00() {
    let ctx = sample_ctx();
    let mut buf = [0u8; 55];
    assert_eq!(
        format_traceparent(&ctx, &mut buf),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
    );
    assert_eq!(
        traceparent(&ctx),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
    );
}

#[test]
fn higher_version_is_emitted_as_version_00() {
    let ctx = ok("cc-12345678901234567890123456789012-1234567890123456-01-future");
    assert_eq!(traceparent(&ctx), TP);
}

#[test]
fn extract_format_round_trip() {
    let ctx = sample_ctx();
    let mut headers = Vec::new();
    inject(&ctx, |k, v| headers.push((k, v.to_owned())));
    let back = extract(Some(&headers[0].1), Some(&headers[1].1)).unwrap();
    assert_eq!(
        SpanContext {
            is_remote: false,
            ..back
        },
        ctx
    );
}

#[test]
fn inject_sets_both_headers() {
    let mut headers = Vec::new();
    inject(&sample_ctx(), |k, v| headers.push((k, v.to_owned())));
    assert_eq!(
        headers,
        [
            (
                TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_owned()
            ),
            (
                TRACESTATE,
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned()
            ),
        ]
    );
}

#[test]
fn inject_omits_empty_tracestate() {
    let ctx = SpanContext {
        trace_state: TraceState::EMPTY,
        ..sample_ctx()
    };
    let mut names = Vec::new();
    inject(&ctx, |k, _| names.push(k));
    assert_eq!(names, [TRACEPARENT]);
}

#[test]
fn inject_truncates_tracestate_to_512() {
    let members: Vec<String> = (0..10).map(|i| member(&format!("k{i}"), 60)).collect();
    let ctx = SpanContext {
        trace_state: TraceState::parse(&members.join(",")).unwrap(),
        ..sample_ctx()
    };
    let mut ts = None;
    inject(&ctx, |k, v| {
        if k == TRACESTATE {
            ts = Some(v.to_owned());
        }
    });
    let ts = ts.unwrap();
    assert!(ts.len() <= 512);
    assert_eq!(ts, members[..8].join(","));
}

#[test]
fn inject_skips_invalid_context() {
    let mut called = false;
    inject(&SpanContext::default(), |_, _| called = true);
    assert!(!called);
}

// ---- child flags ------------------------------------------------------------

#[test]
fn child_flags_of_root_are_sampled_and_random() {
    assert_eq!(
        child_flags(None),
        TraceFlags(TraceFlags::SAMPLED | TraceFlags::RANDOM_TRACE_ID)
    );
    assert_eq!(
        child_flags(Some(&SpanContext::default())),
        child_flags(None)
    );
}

#[test]
fn child_flags_inherit_sampled_from_parent() {
    let parent = ok("00-12345678901234567890123456789012-1234567890123456-00");
    assert!(!child_flags(Some(&parent)).is_sampled());
    let parent = ok("00-12345678901234567890123456789012-1234567890123456-01");
    assert!(child_flags(Some(&parent)).is_sampled());
}

#[test]
fn child_flags_keep_remote_random_bit_as_received() {
    let parent = ok("00-12345678901234567890123456789012-1234567890123456-01");
    assert!(!child_flags(Some(&parent)).is_random());
    let parent = ok("00-12345678901234567890123456789012-1234567890123456-02");
    assert_eq!(
        child_flags(Some(&parent)),
        TraceFlags(TraceFlags::RANDOM_TRACE_ID)
    );
}

#[test]
fn child_flags_clear_unknown_bits() {
    let parent = ok("00-12345678901234567890123456789012-1234567890123456-ff");
    assert_eq!(child_flags(Some(&parent)), TraceFlags(0x03));
}

// ---- binary -----------------------------------------------------------------

#[test]
fn binary_round_trip() {
    let ctx = sample_ctx();
    let back = from_binary(&to_binary(&ctx)).unwrap();
    assert_eq!(back.trace_id, ctx.trace_id);
    assert_eq!(back.span_id, ctx.span_id);
    assert_eq!(back.flags, ctx.flags);
    assert!(back.is_remote);
    assert!(back.trace_state.is_empty());
    let odd = SpanContext {
        flags: TraceFlags(0xfd),
        ..ctx
    };
    assert_eq!(
        from_binary(&to_binary(&odd)).unwrap().flags,
        TraceFlags(0xfd)
    );
}

#[test]
fn binary_layout() {
    let b = to_binary(&sample_ctx());
    assert_eq!(b[0], 0);
    assert_eq!(
        b[1..17],
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
            .unwrap()
            .0
    );
    assert_eq!(b[17..25], SpanId::from_hex("00f067aa0ba902b7").unwrap().0);
    assert_eq!(b[25], 0x03);
}

#[test]
fn binary_empty_is_missing_and_short_is_malformed() {
    assert_eq!(from_binary(&[]), Err(ExtractError::Missing));
    let b = to_binary(&sample_ctx());
    for n in 1..BINARY_LEN {
        assert!(
            matches!(from_binary(&b[..n]), Err(ExtractError::Malformed(_))),
            "{n}"
        );
    }
}

#[test]
fn binary_version_0_with_trailing_bytes_is_invalid() {
    let mut b = to_binary(&sample_ctx()).to_vec();
    b.push(0);
    assert!(matches!(from_binary(&b), Err(ExtractError::Malformed(_))));
}

#[test]
fn binary_future_version_ignores_trailing_bytes() {
    let mut b = to_binary(&SpanContext {
        flags: TraceFlags(0xff),
        ..sample_ctx()
    })
    .to_vec();
    b[0] = 7;
    b.extend_from_slice(b"future fields");
    let ctx = from_binary(&b).unwrap();
    assert_eq!(ctx.span_id, sample_ctx().span_id);
    assert_eq!(ctx.flags, TraceFlags(0x03));
    assert!(from_binary(&b[..BINARY_LEN]).is_ok());
}

#[test]
fn binary_version_ff_is_invalid() {
    let mut b = to_binary(&sample_ctx());
    b[0] = 0xff;
    assert_eq!(from_binary(&b), Err(ExtractError::VersionFF));
    assert_eq!(from_binary(&[0xff]), Err(ExtractError::VersionFF));
}

#[test]
fn binary_zero_ids_are_invalid() {
    let ctx = sample_ctx();
    let zt = SpanContext {
        trace_id: TraceId::INVALID,
        ..ctx.clone()
    };
    assert_eq!(from_binary(&to_binary(&zt)), Err(ExtractError::ZeroTraceId));
    let zs = SpanContext {
        span_id: SpanId::INVALID,
        ..ctx
    };
    assert_eq!(from_binary(&to_binary(&zs)), Err(ExtractError::ZeroSpanId));
}

#[test]
fn binary_with_state_round_trip() {
    let ctx = sample_ctx();
    let mut buf = vec![0xaa];
    to_binary_with_state(&ctx, &mut buf);
    let len = buf.len() - 1;
    assert_eq!(len, BINARY_LEN + 2 + ctx.trace_state.as_str().len());
    buf.extend_from_slice(b"rest of frame");
    let (back, used) = from_binary_with_state(&buf[1..]).unwrap();
    assert_eq!(used, len);
    assert_eq!(
        SpanContext {
            is_remote: false,
            ..back
        },
        ctx
    );
    // Empty state: length 0.
    let mut buf = Vec::new();
    to_binary_with_state(
        &SpanContext {
            trace_state: TraceState::EMPTY,
            ..ctx
        },
        &mut buf,
    );
    assert_eq!(buf.len(), BINARY_LEN + 2);
    assert_eq!(buf[BINARY_LEN..], [0, 0]);
    assert_eq!(from_binary_with_state(&buf).unwrap().1, BINARY_LEN + 2);
}

#[test]
fn binary_with_duplicate_keys_keeps_the_leftmost() {
    let mut buf = to_binary(&sample_ctx()).to_vec();
    let text = b"a=1,a=2";
    buf.extend_from_slice(&(text.len() as u16).to_be_bytes());
    buf.extend_from_slice(text);
    let (ctx, used) = from_binary_with_state(&buf).unwrap();
    assert_eq!(ctx.trace_state.as_str(), "a=1");
    assert_eq!(used, buf.len());
}

#[test]
fn binary_with_invalid_state_gives_empty_state() {
    let mut buf = to_binary(&sample_ctx()).to_vec();
    for text in [&b"FOO=1"[..], b"\xff\xfe", b"a=1,a=b=2"] {
        buf.truncate(BINARY_LEN);
        buf.extend_from_slice(&(text.len() as u16).to_be_bytes());
        buf.extend_from_slice(text);
        let (ctx, used) = from_binary_with_state(&buf).unwrap();
        assert!(ctx.trace_state.is_empty());
        assert_eq!(used, buf.len());
    }
}

#[test]
fn binary_with_state_truncated_is_malformed() {
    let mut buf = Vec::new();
    to_binary_with_state(&sample_ctx(), &mut buf);
    for n in 1..buf.len() {
        assert!(
            matches!(
                from_binary_with_state(&buf[..n]),
                Err(ExtractError::Malformed(_))
            ),
            "{n}"
        );
    }
    assert_eq!(from_binary_with_state(&[]), Err(ExtractError::Missing));
}

#[test]
fn binary_with_state_future_version_is_invalid() {
    let mut buf = Vec::new();
    to_binary_with_state(&sample_ctx(), &mut buf);
    buf[0] = 1;
    assert!(matches!(
        from_binary_with_state(&buf),
        Err(ExtractError::Malformed(_))
    ));
}

// ---- robustness ---------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A byte chosen to be interesting for these parsers most of the time.
fn pick_byte(rng: &mut XorShift) -> u8 {
    const INTERESTING: &[u8] = b"0123456789abcdefABCDEF-=,@ \t_*/.ff\x00\x7f\xc3\xa9\xff";
    if rng.below(4) == 0 {
        rng.next() as u8
    } else {
        INTERESTING[rng.below(INTERESTING.len())]
    }
}

fn mutate(rng: &mut XorShift, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(b.len() + 1);
        match rng.below(5) {
            0 if i < b.len() => b[i] = pick_byte(rng),
            1 => b.insert(i, pick_byte(rng)),
            2 if i < b.len() => {
                b.remove(i);
            }
            3 => b.truncate(i),
            _ => b.extend((0..rng.below(8)).map(|_| pick_byte(rng))),
        }
    }
    b
}

#[test]
fn extract_never_panics_on_random_input() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let bases: [&[u8]; 4] = [
        TP.as_bytes(),
        b"cc-12345678901234567890123456789012-1234567890123456-01-future",
        b"foo=1,bar=2, a@b= x ,k=v",
        b"",
    ];
    let mut parsed = 0;
    for round in 0..100_000 {
        let raw: Vec<u8> = if round % 3 == 0 {
            (0..rng.below(80)).map(|_| pick_byte(&mut rng)).collect()
        } else {
            let base = bases[rng.below(bases.len())];
            mutate(&mut rng, base)
        };
        let text = String::from_utf8_lossy(&raw);
        let state_raw = mutate(&mut rng, bases[2]);
        let state_text = String::from_utf8_lossy(&state_raw);
        if let Ok(ctx) = extract(Some(&text), Some(&state_text)) {
            parsed += 1;
            assert!(ctx.is_valid());
            // What parses re-parses to the same ids, and valid state survives.
            let mut headers = Vec::new();
            inject(&ctx, |k, v| headers.push((k, v.to_owned())));
            let state = headers.get(1).map(|(_, v)| v.as_str());
            let again = extract(Some(&headers[0].1), state).unwrap();
            assert_eq!((again.trace_id, again.span_id), (ctx.trace_id, ctx.span_id));
            assert_eq!(again.trace_state, ctx.trace_state.truncated(512));
            if text.trim_matches(is_ows).starts_with("00-") {
                assert_eq!(headers[0].1, text.trim_matches(is_ows));
            }
        }
        if let Some(s) = TraceState::parse(&text) {
            assert_eq!(TraceState::parse(s.as_str()).as_ref(), Some(&s));
            let _ = s.truncated(rng.below(64));
        }
        let _ = from_binary(&raw);
        let _ = from_binary_with_state(&raw);
    }
    assert!(parsed > 1_000, "too few valid headers generated: {parsed}");
}
