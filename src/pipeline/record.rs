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

/// One parsed line.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    /// The raw line, without its newline.
    pub line: &'a str,
    /// Its fields.
    pub fields: &'a Fields,
}

impl<'a> Record<'a> {
    /// The value of a field, if present.
    #[inline]
    pub fn get(&self, f: &FieldRef) -> Option<&'a str> {
        match f {
            FieldRef::Index(i) => self.fields.value_at(self.line, *i),
            FieldRef::Name(n) | FieldRef::Extra(n) => self.fields.get(self.line, n),
        }
    }
}
