//! A span's `attributes` column (one JSON object, typed values) into
//! [`Attributes`], keeping only the keys a query selects: the others are
//! skipped as the parser passes them, neither allocated nor converted.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::analyze::input::AttrSelection;
use crate::analyze::model::{AttrValue, Attributes};

/// The entries of the JSON object `s` that `keep` selects, in document
/// order (duplicates kept, as written). Errors on anything but one valid
/// JSON object, whatever is selected.
pub(super) fn parse(s: &str, keep: &AttrSelection) -> Result<Attributes, String> {
    let mut de = serde_json::Deserializer::from_str(s);
    let out = Selected(keep)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| format!("attributes: {e}"))?;
    Ok(out)
}

/// The selection, as the seed of the object's visitor.
struct Selected<'k>(&'k AttrSelection);

impl<'de> DeserializeSeed<'de> for Selected<'_> {
    type Value = Attributes;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Attributes, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Selected<'_> {
    type Value = Attributes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        let mut out = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if self.0.wants(&key) {
                let v: serde_json::Value = map.next_value()?;
                out.push((key.into_owned(), AttrValue::from_json(&v)));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_selected_keys_in_order_and_rejects_what_is_not_an_object() {
        let s = r#"{"a":1,"b\u0041":"x","c":{"deep":[1,2]},"a":2.5,"d":true}"#;
        let all = parse(s, &AttrSelection::All).unwrap();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "bA", "c", "a", "d"]);
        assert_eq!(all[2].1, AttrValue::Other(r#"{"deep":[1,2]}"#.into()));
        let some = parse(s, &AttrSelection::Keys(vec!["a".into(), "bA".into()])).unwrap();
        assert_eq!(
            some,
            vec![
                ("a".to_string(), AttrValue::Int(1)),
                ("bA".to_string(), AttrValue::Str("x".into())),
                ("a".to_string(), AttrValue::Double(2.5)),
            ]
        );
        assert!(parse(s, &AttrSelection::None).unwrap().is_empty());
        for bad in ["[1]", "{\"a\":}", "{} x", "7"] {
            assert!(parse(bad, &AttrSelection::None).is_err(), "{bad}");
        }
    }
}
