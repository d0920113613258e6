//! A parsed line as rules see it, and references to its fields resolved once
//! when the pipeline is built.

use logtally_parsers::Fields;

/// A field, resolved against the parser's schema when possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// Position in a fixed-schema parser's output.
    Index(usize),
    /// Looked up by name (parsers without a fixed schema, or extra fields).
    Name(Box<str>),
    /// A name the fixed schema lacks: looked up among extra fields only.
    Extra(Box<str>),
}

impl FieldRef {
    /// Resolves `name` against `schema`.
    pub fn resolve(name: &str, schema: Option<&[&str]>) -> Self {
        match schema {
            Some(s) => match s.iter().position(|n| *n == name) {
                Some(i) => FieldRef::Index(i),
                None => FieldRef::Extra(name.into()),
            },
            None => FieldRef::Name(name.into()),
        }
    }
}

/// Fields that come with a line rather than from parsing it: a Kafka
/// message's key, headers, topic, partition, offset and timestamp.
///
/// They are consulted only when the parser's fields lack a name, so a
/// parsed field shadows a context field of the same name.
pub trait ContextFields {
    /// The value of the context field `name`, if any.
    fn get(&self, name: &str) -> Option<&str>;
}

/// One parsed line.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    /// The raw line, without its newline.
    pub line: &'a str,
    /// Its fields.
    pub fields: &'a Fields,
    /// Fields from where the line came from; `None` for sources that have
    /// none (files, stdin), which then pay nothing for them.
    pub context: Option<&'a dyn ContextFields>,
}

impl<'a> Record<'a> {
    /// The value of a field, if present.
    #[inline(always)]
    pub fn get(&self, f: &FieldRef) -> Option<&'a str> {
        match f {
            FieldRef::Index(i) => self.fields.value_at(self.line, *i),
            FieldRef::Name(n) | FieldRef::Extra(n) => match self.fields.get(self.line, n) {
                Some(v) => Some(v),
                None => self.context.and_then(|c| c.get(n)),
            },
        }
    }

    /// The bytes of a field's value, if present: cheaper than
    /// [`Record::get`] for values that are only copied or hashed.
    #[inline(always)]
    pub fn bytes(&self, f: &FieldRef) -> Option<&'a [u8]> {
        match f {
            FieldRef::Index(i) => self.fields.bytes_at(self.line, *i),
            _ => self.get(f).map(str::as_bytes),
        }
    }
}

/// The context field holding a crash record's kind (`jvm`, `python`, ...).
pub const FIELD_CRASH_KIND: &str = "crash.kind";
/// The context field holding a crash record's exception class or error type.
pub const FIELD_CRASH_TYPE: &str = "crash.type";
/// The context field holding a crash record's message.
pub const FIELD_CRASH_MESSAGE: &str = "crash.message";
/// The context field holding a crash record's top frame.
pub const FIELD_CRASH_FRAME: &str = "crash.frame";
/// The context field holding how many frames a crash record has.
pub const FIELD_CRASH_FRAMES: &str = "crash.frames";
/// The context field holding how many lines a multi-line record has.
pub const FIELD_RECORD_LINES: &str = "record.lines";
/// The context field saying whether a multi-line record was cut at a
/// bound (`true`, `false`).
pub const FIELD_RECORD_TRUNCATED: &str = "record.truncated";

/// The context fields of a multi-line record: `record.lines`,
/// `record.truncated` and, for a crash, `crash.kind`, `crash.type`,
/// `crash.message`, `crash.frame` and `crash.frames`; any other name is
/// asked of the context its lines came with.
pub struct RecordFields<'a> {
    lines: u32,
    truncated: bool,
    crash: Option<&'a logtally_parsers::multiline::Crash>,
    inner: Option<&'a dyn ContextFields>,
    lines_text: Decimal,
    frames_text: Decimal,
}

impl<'a> RecordFields<'a> {
    /// The fields of `group`, over `inner` (the context of its lines).
    pub fn new(
        group: &logtally_parsers::multiline::Group<'a>,
        inner: Option<&'a dyn ContextFields>,
    ) -> Self {
        Self {
            lines: group.lines,
            truncated: group.truncated,
            crash: group.crash,
            inner,
            lines_text: Decimal::of(group.lines),
            frames_text: Decimal::of(group.crash.map_or(0, |c| c.frames)),
        }
    }

    /// Lines of the record.
    pub fn lines(&self) -> u32 {
        self.lines
    }
}

impl ContextFields for RecordFields<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        if let Some(rest) = name.strip_prefix("crash.") {
            if let Some(c) = self.crash {
                // A part the record does not tell is absent, not empty.
                fn told(s: &str) -> Option<&str> {
                    (!s.is_empty()).then_some(s)
                }
                match rest {
                    "kind" => return Some(c.kind.as_str()),
                    "type" => return told(&c.ty),
                    "message" => return told(&c.message),
                    "frame" => return told(&c.frame),
                    "frames" => return Some(self.frames_text.as_str()),
                    _ => {}
                }
            }
        } else if name == FIELD_RECORD_LINES {
            return Some(self.lines_text.as_str());
        } else if name == FIELD_RECORD_TRUNCATED {
            return Some(if self.truncated { "true" } else { "false" });
        }
        self.inner?.get(name)
    }
}

/// A `u32` written in decimal, kept to be lent as text.
struct Decimal {
    digits: [u8; 10],
    start: u8,
}

impl Decimal {
    fn of(mut n: u32) -> Self {
        let mut digits = [b'0'; 10];
        let mut start = 10;
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self {
            digits,
            start: start as u8,
        }
    }

    fn as_str(&self) -> &str {
        // ASCII digits only.
        std::str::from_utf8(&self.digits[self.start as usize..]).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use logtally_parsers::multiline::{Crash, CrashKind, Group};

    use super::*;

    struct Inner;

    impl ContextFields for Inner {
        fn get(&self, name: &str) -> Option<&str> {
            (name == "_container.stream" || name == "crash.kind").then_some("inner")
        }
    }

    #[test]
    fn record_fields_answer_for_the_record_and_defer_the_rest() {
        let mut crash = Crash::new(CrashKind::Python);
        crash.ty = "KeyError".into();
        crash.message = "'id'".into();
        crash.frame = "app.handler".into();
        crash.frames = 12;
        let g = Group {
            text: "a\nb",
            head_len: 1,
            lines: 4_294_967_295,
            truncated: true,
            crash: Some(&crash),
        };
        let f = RecordFields::new(&g, Some(&Inner));
        for (name, want) in [
            ("crash.kind", Some("python")),
            ("crash.type", Some("KeyError")),
            ("crash.message", Some("'id'")),
            ("crash.frame", Some("app.handler")),
            ("crash.frames", Some("12")),
            ("record.lines", Some("4294967295")),
            ("record.truncated", Some("true")),
            ("_container.stream", Some("inner")),
            ("crash.other", None),
            ("other", None),
        ] {
            assert_eq!(f.get(name), want, "{name}");
        }
        // Not a crash: no crash field of its own, the line's context's.
        let g = Group {
            crash: None,
            lines: 0,
            truncated: false,
            ..g
        };
        let f = RecordFields::new(&g, Some(&Inner));
        assert_eq!(f.get("crash.kind"), Some("inner"));
        assert_eq!(f.get("crash.frames"), None);
        assert_eq!(f.get("record.lines"), Some("0"));
        assert_eq!(f.get("record.truncated"), Some("false"));
        let f = RecordFields::new(&g, None);
        assert_eq!(f.get("crash.kind"), None);
    }
}
