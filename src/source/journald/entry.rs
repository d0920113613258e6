//! One journal entry as `journalctl -o json` writes it, decoded into buffers
//! reused from entry to entry, and its fields as rules see them.
//!
//! journalctl writes each field's value as a JSON string when it is
//! printable UTF-8, as an array of byte values otherwise (control
//! characters, invalid UTF-8), and a field that occurs more than once in the
//! entry as an array of such values. All of them are decoded: bytes are read
//! lossily (U+FFFD for what is not UTF-8), and of a repeated field the first
//! value is kept. A `null` value (what journalctl writes for a field it
//! does not show) leaves the field out.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use crate::pipeline::record::ContextFields;

/// Prefix of the context fields of a journal entry: `_journal.MESSAGE`,
/// `_journal._SYSTEMD_UNIT`, ...
pub const FIELD_PREFIX: &str = "_journal.";

/// A decoded entry.
#[derive(Debug, Default)]
pub struct Entry {
    /// (name, value) of the fields, the first `used` of them valid.
    fields: Vec<(String, String)>,
    used: usize,
    /// `MESSAGE` as bytes (not read lossily).
    message: Vec<u8>,
    has_message: bool,
    /// The value being decoded.
    scratch: Vec<u8>,
}

impl Entry {
    /// Decodes `json`, one line of `journalctl -o json`, replacing what
    /// the entry held.
    pub fn parse(&mut self, json: &[u8]) -> Result<(), serde_json::Error> {
        self.used = 0;
        self.has_message = false;
        let mut de = serde_json::Deserializer::from_slice(json);
        EntrySeed(self).deserialize(&mut de)?;
        de.end()
    }

    /// The value of the journal field `name` (`MESSAGE`, `_PID`, ...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields[..self.used]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `MESSAGE`, as bytes.
    pub fn message(&self) -> Option<&[u8]> {
        self.has_message.then_some(self.message.as_slice())
    }

    /// The entry's cursor (`__CURSOR`).
    pub fn cursor(&self) -> Option<&str> {
        self.field("__CURSOR")
    }

    /// When journald received the entry (`__REALTIME_TIMESTAMP`), in
    /// microseconds since the epoch.
    pub fn realtime_us(&self) -> Option<i64> {
        self.field("__REALTIME_TIMESTAMP")?.parse().ok()
    }

    /// The fields, in the order journalctl wrote them.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields[..self.used]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl ContextFields for Entry {
    fn get(&self, name: &str) -> Option<&str> {
        self.field(name.strip_prefix(FIELD_PREFIX)?)
    }
}

/// A copy of an entry's fields, kept as the context fields of the
/// multi-line record it opened.
#[derive(Debug, Clone, Default)]
pub struct EntryFields(Vec<(String, String)>);

impl EntryFields {
    /// The fields of `entry`, copied.
    pub fn of(entry: &Entry) -> Self {
        Self(
            entry
                .fields()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl ContextFields for EntryFields {
    fn get(&self, name: &str) -> Option<&str> {
        let name = name.strip_prefix(FIELD_PREFIX)?;
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes an entry object into an [`Entry`].
struct EntrySeed<'a>(&'a mut Entry);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a journal entry (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let e = self.0;
        loop {
            if e.used == e.fields.len() {
                e.fields.push(Default::default());
            }
            let (name, value) = &mut e.fields[e.used];
            name.clear();
            if map.next_key_seed(TextSeed(name))?.is_none() {
                return Ok(());
            }
            e.scratch.clear();
            if !map.next_value_seed(ValueSeed(&mut e.scratch))? {
                continue;
            }
            if name == "MESSAGE" {
                e.message.clear();
                e.message.extend_from_slice(&e.scratch);
                e.has_message = true;
            }
            value.clear();
            match std::str::from_utf8(&e.scratch) {
                Ok(s) => value.push_str(s),
                Err(_) => value.push_str(&String::from_utf8_lossy(&e.scratch)),
            }
            e.used += 1;
        }
    }
}

/// Appends a JSON string to a `String` (field names).
struct TextSeed<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

/// Appends a field's value to a byte buffer; `false` for `null`.
struct ValueSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an array of bytes or an array of values")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(true)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(true)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(true)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(true)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        // The first element tells bytes (a number) from repeated values (a
        // string or an array of bytes).
        match seq.next_element_seed(ElementSeed(&mut *self.0))? {
            None => Ok(true),
            Some(Element::Byte) => {
                while let Some(b) = seq.next_element::<u8>()? {
                    self.0.push(b);
                }
                Ok(true)
            }
            Some(Element::Value) => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(true)
            }
            Some(Element::Null) => {
                // The first value is not shown: the next one that is.
                while let Some(present) = seq.next_element_seed(ValueSeed(&mut *self.0))? {
                    if present {
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

/// What the first element of an array was.
enum Element {
    /// A byte of a binary value.
    Byte,
    /// The first value of a repeated field.
    Value,
    /// `null`: the first value of a repeated field, not shown.
    Null,
}

/// Reads the first element of an array into a byte buffer.
struct ElementSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = Element;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Element, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte, a string or an array of bytes")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Element, E> {
        let b = u8::try_from(v).map_err(|_| E::custom(format!("{v} is not a byte")))?;
        self.0.push(b);
        Ok(Element::Byte)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Element, E> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(Element::Value)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Element, E> {
        Ok(Element::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        while let Some(b) = seq.next_element::<u8>()? {
            self.0.push(b);
        }
        Ok(Element::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(json: &str) -> Entry {
        let mut e = Entry::default();
        e.parse(json.as_bytes()).unwrap();
        e
    }

    #[test]
    fn strings_bytes_and_repeated_fields_are_decoded() {
        let e = parsed(
            r#"{"__CURSOR":"s=1;i=2","MESSAGE":[104,105,10,27,255],"TAG":["a","b"],"BIN":[[0,104],"x"],"UNI":"h\u00e9 \"q\"","N":[],"GONE":null,"__REALTIME_TIMESTAMP":"1700000000123456"}"#,
        );
        assert_eq!(e.cursor(), Some("s=1;i=2"));
        assert_eq!(e.message(), Some(&b"hi\n\x1b\xff"[..]));
        assert_eq!(e.field("MESSAGE"), Some("hi\n\x1b\u{fffd}"));
        assert_eq!(e.field("TAG"), Some("a"));
        assert_eq!(e.field("BIN"), Some("\0h"));
        assert_eq!(e.field("UNI"), Some("hé \"q\""));
        assert_eq!(e.field("N"), Some(""));
        assert_eq!(e.field("GONE"), None);
        assert_eq!(e.realtime_us(), Some(1_700_000_000_123_456));
        assert_eq!(ContextFields::get(&e, "_journal.TAG"), Some("a"));
        assert_eq!(ContextFields::get(&e, "TAG"), None);
        assert_eq!(e.fields().count(), 7);
    }

    #[test]
    fn buffers_are_reused_without_leftovers() {
        let mut e = parsed(r#"{"MESSAGE":"one","A":"1","B":"2"}"#);
        e.parse(br#"{"C":"3"}"#).unwrap();
        assert_eq!(e.message(), None);
        assert_eq!(e.field("A"), None);
        assert_eq!(e.field("C"), Some("3"));
        e.parse(br#"{"MESSAGE":[null,"second"],"A":[null,null]}"#)
            .unwrap();
        assert_eq!(e.field("MESSAGE"), Some("second"));
        assert_eq!(e.field("A"), None);
    }

    #[test]
    fn what_is_not_an_entry_is_an_error() {
        let mut e = Entry::default();
        for bad in [
            &b"-- No entries --"[..],
            b"{\"MESSAGE\":[1,300]}",
            b"[1,2]",
            b"{\"A\":\"x\"} trailing",
            b"{\"A\":",
        ] {
            assert!(e.parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
