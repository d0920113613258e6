//! The fields a parser extracts from one line.
//!
//! A [`Fields`] value is reused from line to line: clearing it keeps its
//! capacity, so a steady stream of lines causes no allocation. Field names and
//! values are [`Text`] spans: most point into the line itself, a few (JSON
//! strings with escapes, dotted names of nested JSON keys) into a small arena
//! owned by the `Fields`, and names known at compile time are `&'static str`.
//! Nothing here borrows the line, so the caller passes the line back in when
//! reading a value. A parser with a fixed schema (access, regex, grok) hands
//! over its `'static` list of names: when the previous line began with the
//! same list, the names are still in place and only the values are written.

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

/// The fields of one parsed line, as spans; reused across lines.
#[derive(Debug, Default)]
pub struct Fields {
    /// `names[i]` is the name of `values[i]`. Past `values.len()` it may
    /// hold names of an earlier line: see `schema`.
    names: Vec<Text>,
    values: Vec<Text>,
    /// The static names `names` starts with, as the address and length of
    /// their slice ([`NO_SCHEMA`] for none), kept from line to line: a
    /// parser that writes the same schema on every line then writes only
    /// its values. A `'static` slice is never freed, so its address names
    /// it for good.
    schema: (usize, usize),
    arena: String,
    /// Bit `n` is set when a name of `n` bytes (63 for 63 or more) was
    /// pushed: a lookup by a name of another length fails without a scan.
    name_lengths: u64,
    /// How many records the line stands for, 0 read as 1 (see
    /// [`Fields::weight`]).
    weight: u64,
    scratch: Scratch,
}

/// `Fields::schema` when `names` starts with no known schema.
const NO_SCHEMA: (usize, usize) = (0, 0);

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
        self.values.clear();
        if self.schema == NO_SCHEMA {
            self.names.clear();
        }
        self.arena.clear();
        self.name_lengths = 0;
        self.weight = 0;
    }

    /// How many records the line stands for: 1, unless the parser found
    /// that it stands for several (rsyslog's `message repeated N times:
    /// [...]`, see [`crate::syslog`]), which rules then count that many
    /// times.
    #[inline(always)]
    pub fn weight(&self) -> u64 {
        self.weight.max(1)
    }

    /// Sets the [weight](Fields::weight) of the line being parsed (reset to
    /// 1 by [`Fields::clear`]).
    #[inline]
    pub fn set_weight(&mut self, n: u64) {
        self.weight = n;
    }

    /// Number of entries, absent ones included.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no entry was pushed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds a field.
    #[inline]
    pub fn push(&mut self, name: Text, value: Text) {
        self.name_lengths |= length_bit(name.len());
        if self.names.len() != self.values.len() {
            self.names_end_here();
        }
        self.names.push(name);
        self.values.push(value);
    }

    /// Drops the names past the current fields (those of an earlier line),
    /// and the schema if some of its names go.
    #[cold]
    fn names_end_here(&mut self) {
        let n = self.values.len();
        if n < self.schema.1 {
            self.schema = NO_SCHEMA;
        }
        self.names.truncate(n);
    }

    /// Adds a field whose name is known at compile time.
    #[inline]
    pub fn push_static(&mut self, name: &'static str, value: Text) {
        self.push(Text::Static(name), value);
    }

    /// Adds one field per name of `names`, with the value `value(i)` for
    /// the `i`th: a whole schema at once, with one capacity check. `names`
    /// are known for good, so [`Fields::names_bits`] of them is worked out
    /// once by the caller and passed as `bits`; when the previous line
    /// started with the same schema, only the values are written.
    #[inline]
    pub(crate) fn extend_names(
        &mut self,
        names: &'static [&'static str],
        bits: NameBits,
        value: impl FnMut(usize) -> Text,
    ) {
        self.schema_names(names, bits);
        self.values.extend((0..names.len()).map(value));
    }

    /// Makes `names` the names of the next fields pushed (see
    /// [`Fields::extend_names`]).
    #[inline(always)]
    fn schema_names(&mut self, names: &'static [&'static str], bits: NameBits) {
        debug_assert_eq!(bits, Self::names_bits(names));
        self.name_lengths |= bits.0;
        let key = (names.as_ptr() as usize, names.len());
        if !(self.values.is_empty() && self.schema == key) {
            self.write_names(names, key);
        }
    }

    /// Writes `names` (the slice `key` names) after the current fields.
    #[inline(never)]
    fn write_names(&mut self, names: &'static [&'static str], key: (usize, usize)) {
        self.names_end_here();
        self.names
            .extend(names.iter().map(|&name| Text::Static(name)));
        if self.values.is_empty() {
            self.schema = key;
        }
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
        names: &'static [&'static str; N],
        bits: NameBits,
        values: [Text; N],
    ) {
        self.schema_names(names, bits);
        self.values.extend_from_slice(&values);
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
        if let Some(v) = self.values.get_mut(index) {
            *v = value;
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
        let names = self.names.get(..self.values.len()).unwrap_or_default();
        let i = names.iter().position(|&n| self.spells(line, n, name))?;
        self.text(line, *self.values.get(i)?)
    }

    /// The value at position `index` (fixed-schema parsers push field `i` of
    /// their [`Parser::schema`](crate::Parser::schema) at position `i`).
    #[inline]
    pub fn value_at<'a>(&'a self, line: &'a str, index: usize) -> Option<&'a str> {
        self.values.get(index).and_then(|&v| self.text(line, v))
    }

    /// The bytes of the value at position `index`: [`Fields::value_at`]
    /// without checking that the ends fall on character boundaries (they
    /// do: every span was cut from a `&str`), for callers that only copy,
    /// compare or hash the value.
    #[inline]
    pub fn bytes_at<'a>(&'a self, line: &'a str, index: usize) -> Option<&'a [u8]> {
        let (bytes, start, end) = match *self.values.get(index)? {
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
        self.names.iter().copied().zip(self.values.iter().copied())
    }

    /// Every present field as `(name, value)`, in the order pushed.
    pub fn iter<'a>(&'a self, line: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.names
            .iter()
            .zip(&self.values)
            .filter_map(move |(&n, &v)| Some((self.text(line, n)?, self.text(line, v)?)))
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
        static NAMES: [&str; 2] = ["method", "status"];
        let names = &NAMES;
        f.extend_static(
            names,
            Fields::names_bits(names),
            [Text::of(line, &line[..3]), Text::of(line, &line[4..])],
        );
        assert_eq!(f.get(line, "method"), Some("GET"));
        assert_eq!(f.get(line, "status"), Some("200"));
        assert_eq!(f.get(line, "path"), None);
        // A schema given value by value.
        let line = "a bc";
        static ABC: [&str; 3] = ["a", "bc", "none"];
        let names = &ABC;
        f.clear();
        f.extend_names(names, Fields::names_bits(names), |i| match i {
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

    /// Every `(name, value)` as text, absent values as `None`.
    fn all<'a>(f: &'a Fields, line: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
        f.entries()
            .map(|(n, v)| (f.text(line, n).unwrap_or("?"), f.text(line, v)))
            .collect()
    }

    #[test]
    fn names_kept_from_the_last_line_are_the_right_ones() {
        static AB: [&str; 2] = ["a", "b"];
        static XY: [&str; 2] = ["x", "y"];
        let line = "12";
        let one = Text::of(line, &line[..1]);
        let two = Text::of(line, &line[1..]);
        let bits = |n: &[&'static str]| Fields::names_bits(n);
        let mut f = Fields::new();
        // The same schema line after line, sometimes with more fields.
        f.extend_static(&AB, bits(&AB), [one, two]);
        f.push_static("extra", one);
        assert_eq!(
            all(&f, line),
            [("a", Some("1")), ("b", Some("2")), ("extra", Some("1"))]
        );
        f.clear();
        f.extend_static(&AB, bits(&AB), [two, Text::None]);
        assert_eq!(all(&f, line), [("a", Some("2")), ("b", None)]);
        assert_eq!(f.get(line, "extra"), None, "a field of the line before");
        // Another schema in its place.
        f.clear();
        f.extend_names(&XY, bits(&XY), |i| [one, two][i]);
        assert_eq!(all(&f, line), [("x", Some("1")), ("y", Some("2"))]);
        // A field pushed first moves the schema along.
        f.clear();
        f.push_static("first", two);
        f.extend_names(&XY, bits(&XY), |i| [one, two][i]);
        assert_eq!(
            all(&f, line),
            [("first", Some("2")), ("x", Some("1")), ("y", Some("2"))]
        );
        // ... and it is written again at the start of the next line.
        f.clear();
        f.extend_names(&XY, bits(&XY), |i| [two, one][i]);
        assert_eq!(all(&f, line), [("x", Some("2")), ("y", Some("1"))]);
        // A line of pushed fields only, shorter than the schema.
        f.clear();
        f.push_static("p", one);
        assert_eq!(all(&f, line), [("p", Some("1"))]);
        assert_eq!(f.get(line, "x"), None);
        f.clear();
        f.extend_names(&XY, bits(&XY), |i| [one, one][i]);
        assert_eq!(all(&f, line), [("x", Some("1")), ("y", Some("1"))]);
        // Two schemas one after the other.
        f.extend_static(&AB, bits(&AB), [two, two]);
        f.clear();
        f.extend_static(&AB, bits(&AB), [one, one]);
        assert_eq!(all(&f, line), [("a", Some("1")), ("b", Some("1"))]);
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
