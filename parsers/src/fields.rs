//! The fields a parser extracts from one line.
//!
//! A [`Fields`] value is reused from line to line: clearing it keeps its
//! capacity, so a steady stream of lines causes no allocation. Field names and
//! values are [`Text`] spans: most point into the line itself, a few (JSON
//! strings with escapes, dotted names of nested JSON keys) into a small arena
//! owned by the `Fields`, and names known at compile time are `&'static str`.
//! Nothing here borrows the line, so the caller passes the line back in when
//! reading a value.

use std::any::Any;

/// Where the text of a field name or value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// The field is absent on this line (used by fixed-schema parsers to keep
    /// field `i` at position `i`).
    None,
    /// Bytes `start..end` of the line being parsed.
    Line {
        /// First byte.
        start: u32,
        /// One past the last byte.
        end: u32,
    },
    /// Bytes `start..end` of the [`Fields`] arena.
    Arena {
        /// First byte.
        start: u32,
        /// One past the last byte.
        end: u32,
    },
    /// Text known at compile time.
    Static(&'static str),
}

impl Text {
    /// The span of `sub` inside `line`. `sub` must be a subslice of `line`
    /// (as every `&str` a parser takes from its input is); otherwise the
    /// result is [`Text::None`].
    #[inline]
    pub fn of(line: &str, sub: &str) -> Text {
        let base = line.as_ptr() as usize;
        let at = sub.as_ptr() as usize;
        if at < base || at + sub.len() > base + line.len() {
            return Text::None;
        }
        let start = at - base;
        Text::Line {
            start: start as u32,
            end: (start + sub.len()) as u32,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    name: Text,
    value: Text,
}

/// The fields of one parsed line, as spans; reused across lines.
#[derive(Debug, Default)]
pub struct Fields {
    entries: Vec<Entry>,
    arena: String,
    /// Bit `n` is set when a name of `n` bytes (63 for 63 or more) was
    /// pushed: a lookup by a name of another length fails without a scan.
    name_lengths: u64,
    scratch: Scratch,
}

/// Working memory a parser keeps with the fields it fills (a regex's
/// capture positions and backtracking stack), so that a stream of lines
/// parsed into the same [`Fields`] reuses it without a lock; tagged with
/// the parser that owns it.
#[derive(Default)]
struct Scratch(Option<(u64, Box<dyn Any + Send + Sync>)>);

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// The lengths of a set of names, as [`Fields`] records them to skip
/// looking up a name no field has (see [`Fields::names_bits`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameBits(u64);

/// The bit of [`Fields::name_lengths`] for a name of `len` bytes.
#[inline]
const fn length_bit(len: usize) -> u64 {
    1 << if len < 63 { len } else { 63 }
}

impl Text {
    /// The length in bytes of the text (0 for [`Text::None`]).
    #[inline]
    fn len(self) -> usize {
        match self {
            Text::Line { start, end } | Text::Arena { start, end } => {
                end.saturating_sub(start) as usize
            }
            Text::Static(s) => s.len(),
            Text::None => 0,
        }
    }
}

impl Fields {
    /// Takes the scratch space that parser `owner` left here, if the last
    /// one to leave some was that parser.
    #[inline]
    pub(crate) fn take_scratch<T: Any + Send + Sync>(&mut self, owner: u64) -> Option<Box<T>> {
        match self.scratch.0.take() {
            Some((o, b)) if o == owner => b.downcast().ok(),
            _ => None,
        }
    }

    /// Leaves scratch space of parser `owner` for its next line.
    #[inline]
    pub(crate) fn put_scratch<T: Any + Send + Sync>(&mut self, owner: u64, scratch: Box<T>) {
        self.scratch.0 = Some((owner, scratch));
    }

    /// An empty set of fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every field, keeping the allocated capacity.
    #[inline]
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.name_lengths = 0;
    }

    /// Number of entries, absent ones included.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry was pushed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a field.
    #[inline]
    pub fn push(&mut self, name: Text, value: Text) {
        self.name_lengths |= length_bit(name.len());
        self.entries.push(Entry { name, value });
    }

    /// Adds a field whose name is known at compile time.
    #[inline]
    pub fn push_static(&mut self, name: &'static str, value: Text) {
        self.push(Text::Static(name), value);
    }

    /// Adds one field per name of `names`, with the value `value(i)` for
    /// the `i`th: a whole schema at once, with one capacity check. `names`
    /// are known for good, so [`Fields::names_bits`] of them is worked out
    /// once by the caller and passed as `bits`.
    #[inline]
    pub(crate) fn extend_names(
        &mut self,
        names: &[&'static str],
        bits: NameBits,
        value: impl FnMut(usize) -> Text,
    ) {
        debug_assert_eq!(bits, Self::names_bits(names));
        self.name_lengths |= bits.0;
        self.entries.extend(
            names
                .iter()
                .zip((0..names.len()).map(value))
                .map(|(&name, value)| Entry {
                    name: Text::Static(name),
                    value,
                }),
        );
    }

    /// What [`Fields::extend_names`] records about `names` to look them up.
    pub(crate) const fn names_bits(names: &[&'static str]) -> NameBits {
        let mut bits = 0;
        let mut i = 0;
        while i < names.len() {
            bits |= length_bit(names[i].len());
            i += 1;
        }
        NameBits(bits)
    }

    /// Adds one field per name, names known at compile time: a fixed-schema
    /// parser's whole schema at once, with one capacity check instead of one
    /// per field. `bits` is [`Fields::names_bits`] of `names`, worked out
    /// once.
    #[inline(always)]
    pub(crate) fn extend_static<const N: usize>(
        &mut self,
        names: &[&'static str; N],
        bits: NameBits,
        values: [Text; N],
    ) {
        debug_assert_eq!(bits, Self::names_bits(names));
        self.name_lengths |= bits.0;
        let entries: [Entry; N] = std::array::from_fn(|i| Entry {
            name: Text::Static(names[i]),
            value: values[i],
        });
        self.entries.extend_from_slice(&entries);
    }

    /// Copies `s` into the arena and returns its span (for text that is not a
    /// plain slice of the line, such as an unescaped string).
    pub fn arena_push(&mut self, s: &str) -> Text {
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        Text::Arena {
            start,
            end: self.arena.len() as u32,
        }
    }

    /// Appends `parts` one after the other into the arena as a single text
    /// (used to build dotted names such as `http.status`).
    pub fn arena_concat(&mut self, parts: &[&str]) -> Text {
        let start = self.arena.len() as u32;
        for p in parts {
            self.arena.push_str(p);
        }
        Text::Arena {
            start,
            end: self.arena.len() as u32,
        }
    }

    /// Lets `build` append text to the end of the arena and returns the span
    /// of what it appended, along with `build`'s result (used to unescape a
    /// string straight into the arena). `build` must only append.
    pub fn arena_with<R>(&mut self, build: impl FnOnce(&mut String) -> R) -> (Text, R) {
        let start = self.arena.len();
        let r = build(&mut self.arena);
        if self.arena.len() < start {
            // `build` removed text it did not own: keep the span well formed.
            return (Text::None, r);
        }
        (
            Text::Arena {
                start: start as u32,
                end: self.arena.len() as u32,
            },
            r,
        )
    }

    /// Replaces the value at position `index` (no-op when out of range); lets
    /// a fixed-schema parser fill a field it only finds later in the line.
    #[inline]
    pub fn set_value(&mut self, index: usize, value: Text) {
        if let Some(e) = self.entries.get_mut(index) {
            e.value = value;
        }
    }

    /// Resolves a span against the line it came from.
    #[inline]
    pub fn text<'a>(&'a self, line: &'a str, t: Text) -> Option<&'a str> {
        match t {
            Text::None => None,
            Text::Line { start, end } => line.get(start as usize..end as usize),
            Text::Arena { start, end } => self.arena.get(start as usize..end as usize),
            Text::Static(s) => Some(s),
        }
    }

    /// Whether span `t` spells `name`. Compares lengths first, then bytes:
    /// equal bytes to a `&str` are on character boundaries anyway, so no
    /// boundary check is needed (this runs for every field of a line on
    /// every lookup by name).
    #[inline]
    fn spells(&self, line: &str, t: Text, name: &[u8]) -> bool {
        let (bytes, start, end) = match t {
            Text::Line { start, end } => (line.as_bytes(), start, end),
            Text::Arena { start, end } => (self.arena.as_bytes(), start, end),
            Text::Static(s) => return s.as_bytes() == name,
            Text::None => return false,
        };
        end.wrapping_sub(start) as usize == name.len()
            && bytes.get(start as usize..end as usize) == Some(name)
    }

    /// The value of the first field called `name`, if present.
    pub fn get<'a>(&'a self, line: &'a str, name: &str) -> Option<&'a str> {
        if self.name_lengths & length_bit(name.len()) == 0 {
            return None;
        }
        let name = name.as_bytes();
        self.entries
            .iter()
            .find(|e| self.spells(line, e.name, name))
            .and_then(|e| self.text(line, e.value))
    }

    /// The value at position `index` (fixed-schema parsers push field `i` of
    /// their [`Parser::schema`](crate::Parser::schema) at position `i`).
    #[inline]
    pub fn value_at<'a>(&'a self, line: &'a str, index: usize) -> Option<&'a str> {
        self.entries
            .get(index)
            .and_then(|e| self.text(line, e.value))
    }

    /// The bytes of the value at position `index`: [`Fields::value_at`]
    /// without checking that the ends fall on character boundaries (they
    /// do: every span was cut from a `&str`), for callers that only copy,
    /// compare or hash the value.
    #[inline]
    pub fn bytes_at<'a>(&'a self, line: &'a str, index: usize) -> Option<&'a [u8]> {
        let (bytes, start, end) = match self.entries.get(index)?.value {
            Text::Line { start, end } => (line.as_bytes(), start, end),
            Text::Arena { start, end } => (self.arena.as_bytes(), start, end),
            Text::Static(s) => return Some(s.as_bytes()),
            Text::None => return None,
        };
        bytes.get(start as usize..end as usize)
    }

    /// Every entry as `(name, value)` spans, absent ones included, for tests
    /// that compare two parsers' output exactly.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Text, Text)> + '_ {
        self.entries.iter().map(|e| (e.name, e.value))
    }

    /// Every present field as `(name, value)`, in the order pushed.
    pub fn iter<'a>(&'a self, line: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .filter_map(move |e| Some((self.text(line, e.name)?, self.text(line, e.value)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_resolve_against_line_and_arena() {
        let line = "a=1 b=2";
        let mut f = Fields::new();
        f.push(Text::of(line, &line[0..1]), Text::of(line, &line[2..3]));
        let v = f.arena_push("two");
        f.push_static("b", v);
        f.push_static("c", Text::None);
        assert_eq!(f.get(line, "a"), Some("1"));
        assert_eq!(f.get(line, "b"), Some("two"));
        assert_eq!(f.get(line, "c"), None);
        assert_eq!(f.get(line, ""), None);
        assert_eq!(f.get(line, "a="), None);
        assert_eq!(f.get(line, "tw"), None);
        assert_eq!(f.value_at(line, 1), Some("two"));
        assert_eq!(f.iter(line).count(), 2);
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn a_whole_schema_is_found_by_name() {
        let line = "GET 200";
        let mut f = Fields::new();
        let names = ["method", "status"];
        f.extend_static(
            &names,
            Fields::names_bits(&names),
            [Text::of(line, &line[..3]), Text::of(line, &line[4..])],
        );
        assert_eq!(f.get(line, "method"), Some("GET"));
        assert_eq!(f.get(line, "status"), Some("200"));
        assert_eq!(f.get(line, "path"), None);
        // A schema given value by value.
        let line = "a bc";
        let names = ["a", "bc", "none"];
        f.clear();
        f.extend_names(&names, Fields::names_bits(&names), |i| match i {
            0 => Text::of(line, &line[..1]),
            1 => Text::of(line, &line[2..]),
            _ => Text::None,
        });
        assert_eq!(f.get(line, "a"), Some("a"));
        assert_eq!(f.get(line, "bc"), Some("bc"));
        assert_eq!(f.get(line, "none"), None);
        assert_eq!(f.get(line, "method"), None);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn names_compare_as_whole_texts() {
        let line = "é=1 ab=2";
        let mut f = Fields::new();
        // A span cut inside a character never equals a name.
        f.push(Text::Line { start: 1, end: 2 }, Text::Static("x"));
        f.push(
            Text::Line { start: 5, end: 7 },
            Text::Line { start: 8, end: 9 },
        );
        f.push(Text::Line { start: 9, end: 40 }, Text::Static("y"));
        let n = f.arena_push("a.b");
        f.push(n, Text::Static("z"));
        assert_eq!(f.get(line, "ab"), Some("2"));
        assert_eq!(f.get(line, "a"), None);
        assert_eq!(f.get(line, "a.b"), Some("z"));
        assert_eq!(f.get(line, "\u{a9}"), None);
    }

    #[test]
    fn lookups_by_length() {
        let long = "k".repeat(100);
        let line = format!("{long}=1 {}=2", "j".repeat(70));
        let mut f = Fields::new();
        f.push(
            Text::Line { start: 0, end: 100 },
            Text::Line {
                start: 101,
                end: 102,
            },
        );
        f.push(
            Text::Line {
                start: 103,
                end: 173,
            },
            Text::Line {
                start: 174,
                end: 175,
            },
        );
        assert_eq!(f.get(&line, &long), Some("1"));
        assert_eq!(f.get(&line, &"j".repeat(70)), Some("2"));
        assert_eq!(f.get(&line, &"k".repeat(70)), None);
        assert_eq!(f.get(&line, "k"), None);
        f.push(Text::None, Text::Static("x"));
        assert_eq!(f.get(&line, ""), None);
        f.clear();
        assert_eq!(f.get(&line, &long), None);
        f.push_static("", Text::Static("e"));
        assert_eq!(f.get(&line, ""), Some("e"));
    }

    #[test]
    fn foreign_slice_is_none() {
        let line = "abc";
        let other = String::from("abc");
        assert_eq!(Text::of(line, &other), Text::None);
    }
}
