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
