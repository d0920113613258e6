//! Conditions on a field or on the raw line.

use super::pattern::Pattern;
use super::record::{FieldRef, Record};

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<F> {
    /// A field (by name in a spec, resolved in a built pipeline).
    Field(F),
    /// The raw line.
    Line,
}

/// A test on one value. Tests other than `Present` fail on an absent value,
/// `NotMatches` and `NotEquals` included: a missing field is not evidence.
#[derive(Debug, Clone)]
pub enum Test {
    /// The regex matches somewhere in the value.
    Matches(Pattern),
    /// The regex matches nowhere in the value.
    NotMatches(Pattern),
    /// The value contains this text.
    Contains(String),
    /// The value equals one of these.
    OneOf(Vec<Expected>),
    /// The value equals none of these.
    NoneOf(Vec<Expected>),
    /// The value is a number and every comparison holds (`ge` and `lt`
    /// of one condition: the value is parsed once).
    Compare(Box<[(CmpOp, f64)]>),
    /// The field is present (`true`) or absent (`false`).
    Present(bool),
}

/// A value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Compared as text.
    Text(String),
    /// Compared as a number.
    Number(f64),
}

impl Expected {
    fn holds(&self, v: &[u8]) -> bool {
        match self {
            Expected::Text(t) => v == t.as_bytes(),
            Expected::Number(n) => parse_number(v) == Some(*n),
        }
    }
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// Whether `n op rhs`.
    #[inline]
    fn holds(self, n: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Gt => n > rhs,
            CmpOp::Ge => n >= rhs,
            CmpOp::Lt => n < rhs,
            CmpOp::Le => n <= rhs,
        }
    }
}

/// A condition: a target and a test.
#[derive(Debug, Clone)]
pub struct Condition<F = FieldRef> {
    /// What is tested.
    pub target: Target<F>,
    /// The test.
    pub test: Test,
}

impl<F> Condition<F> {
    /// Rough cost, used to evaluate cheap conditions first.
    pub fn cost(&self) -> u8 {
        match &self.test {
            Test::Present(_) => 0,
            Test::OneOf(_) | Test::NoneOf(_) | Test::Compare(..) => 1,
            Test::Contains(_) => 2,
            Test::Matches(_) | Test::NotMatches(_) => 3,
        }
    }

    /// The same condition with its field reference mapped.
    pub fn map_field<G>(self, f: impl FnOnce(F) -> G) -> Condition<G> {
        Condition {
            target: match self.target {
                Target::Field(x) => Target::Field(f(x)),
                Target::Line => Target::Line,
            },
            test: self.test,
        }
    }
}

impl Target<FieldRef> {
    /// The text this target refers to on `rec`.
    #[inline]
    pub fn text<'a>(&self, rec: &Record<'a>) -> Option<&'a str> {
        match self {
            Target::Field(f) => rec.get(f),
            Target::Line => Some(rec.line),
        }
    }

    /// Its bytes: cheaper than [`Target::text`] where a `&str` is not
    /// needed (no check of character boundaries).
    #[inline]
    pub fn bytes<'a>(&self, rec: &Record<'a>) -> Option<&'a [u8]> {
        match self {
            Target::Field(f) => rec.bytes(f),
            Target::Line => Some(rec.line.as_bytes()),
        }
    }
}

impl Condition<FieldRef> {
    /// Whether the condition holds on `rec`. Always inlined: rules test
    /// their conditions in a short loop, where a call costs as much as
    /// the usual test.
    #[inline(always)]
    pub fn holds(&self, rec: &Record<'_>) -> bool {
        // Only regexes need the value as a `&str`: the other tests read
        // its bytes.
        let text = || self.target.text(rec);
        let bytes = || self.target.bytes(rec);
        match &self.test {
            Test::Present(want) => bytes().is_some() == *want,
            Test::Matches(re) => text().is_some_and(|v| re.is_match(v)),
            Test::NotMatches(re) => text().is_some_and(|v| !re.is_match(v)),
            Test::Contains(s) => text().is_some_and(|v| v.contains(s.as_str())),
            Test::OneOf(xs) => bytes().is_some_and(|v| xs.iter().any(|x| x.holds(v))),
            Test::NoneOf(xs) => bytes().is_some_and(|v| !xs.iter().any(|x| x.holds(v))),
            Test::Compare(bounds) => bytes()
                .and_then(parse_number)
                .is_some_and(|n| bounds.iter().all(|(op, rhs)| op.holds(n, *rhs))),
        }
    }
}

/// Parses a number as logs write them: integers, decimals, exponents,
/// surrounding spaces ignored. `NaN` and infinities are not numbers here.
// Always inlined: the fast path is a few instructions for the usual short
// integers, and a call costs as much.
#[inline(always)]
pub fn parse_number(v: &[u8]) -> Option<f64> {
    // Trimming looks for Unicode spaces: only worth it when an end is not
    // a visible ASCII character.
    let visible = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
    let b = if visible(v.first()) && visible(v.last()) {
        v
    } else {
        std::str::from_utf8(v).ok()?.trim().as_bytes()
    };
    // Fast path: `digits[.digits]`, at most 15 digits in all: the integer
    // and the power of ten are exact in an f64, so one division rounds
    // correctly, as `str::parse` would.
    if b.len() <= 16 {
        // Reads the digits from `i` on into `n`; returns where they end.
        let digits = |mut i: usize, n: &mut u64| {
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
                *n = *n * 10 + u64::from(d);
                i += 1;
            }
            i
        };
        let mut n: u64 = 0;
        let point = digits(0, &mut n);
        if point == b.len() && (1..=15).contains(&point) {
            return Some(n as f64);
        }
        if point > 0
            && b.get(point) == Some(&b'.')
            && point + 1 < b.len()
            && digits(point + 1, &mut n) == b.len()
        {
            // At most 15 digits: the point is one of the 16 bytes.
            const POW10: [f64; 16] = [
                1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                1e15,
            ];
            return Some(n as f64 / POW10[b.len() - point - 1]);
        }
    }
    std::str::from_utf8(b)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logtally_parsers::{Fields, Text};
    use regex::Regex;

    fn rec_with<'a>(line: &'a str, fields: &'a mut Fields) -> Record<'a> {
        fields.clear();
        fields.push(Text::Static("status"), Text::of(line, &line[0..3]));
        Record {
            line,
            fields,
            context: None,
        }
    }

    #[test]
    fn numbers_parse_like_logs_write_them() {
        assert_eq!(parse_number(b"200"), Some(200.0));
        assert_eq!(parse_number(b" 0.25 "), Some(0.25));
        assert_eq!(parse_number(b"1e3"), Some(1000.0));
        assert_eq!(parse_number(b"0.123"), Some(0.123));
        assert_eq!(parse_number(b"12.5"), Some(12.5));
        assert_eq!(parse_number(b"1."), Some(1.0));
        assert_eq!(parse_number(b".5"), Some(0.5));
        assert_eq!(parse_number(b"1.2.3"), None);
        assert_eq!(parse_number(b"1.5."), None);
        assert_eq!(parse_number(b"12a"), None);
        assert_eq!(parse_number(b"1.x"), None);
        assert_eq!(parse_number(b"."), None);
        // Same result as the standard parser, digit for digit.
        for s in [
            "0.1",
            "0.3",
            "2.675",
            "1234567.891",
            "0.000000000000001",
            "999999999999999",
            "9999999999999999",
            "12345678901234.5",
            "123456789012345.6",
            "0",
            "007",
            "5.",
            "10410",
            "1.760",
        ] {
            assert_eq!(parse_number(s.as_bytes()), s.parse::<f64>().ok(), "{s}");
        }
        assert_eq!(parse_number(b"-4"), Some(-4.0));
        assert_eq!(parse_number(b"NaN"), None);
        assert_eq!(parse_number(b"inf"), None);
        assert_eq!(parse_number(b"12abc"), None);
        assert_eq!(parse_number(b""), None);
    }

    #[test]
    fn tests_apply_to_fields_and_line() {
        let mut f = Fields::new();
        let rec = rec_with("503 upstream timed out", &mut f);
        let status = || Target::Field(FieldRef::Name("status".into()));
        let c = |target, test| Condition { target, test };
        let cmp = |bounds: &[(CmpOp, f64)]| Test::Compare(bounds.into());
        assert!(c(status(), cmp(&[(CmpOp::Ge, 500.0)])).holds(&rec));
        assert!(!c(status(), cmp(&[(CmpOp::Lt, 500.0)])).holds(&rec));
        assert!(c(status(), cmp(&[(CmpOp::Ge, 500.0), (CmpOp::Lt, 600.0)])).holds(&rec));
        assert!(!c(status(), cmp(&[(CmpOp::Ge, 500.0), (CmpOp::Lt, 503.0)])).holds(&rec));
        assert!(!c(status(), cmp(&[(CmpOp::Gt, 503.0), (CmpOp::Le, 600.0)])).holds(&rec));
        assert!(c(status(), cmp(&[(CmpOp::Gt, 502.0), (CmpOp::Le, 503.0)])).holds(&rec));
        assert!(c(status(), Test::OneOf(vec![Expected::Number(503.0)])).holds(&rec));
        assert!(c(status(), Test::NoneOf(vec![Expected::Text("200".into())])).holds(&rec));
        assert!(c(Target::Line, Test::Contains("timed out".into())).holds(&rec));
        assert!(c(
            Target::Line,
            Test::Matches(Regex::new("^5").unwrap().into())
        )
        .holds(&rec));
        let missing = || Target::Field(FieldRef::Name("nope".into()));
        assert!(c(missing(), Test::Present(false)).holds(&rec));
        assert!(!c(missing(), Test::NotMatches(Regex::new("x").unwrap().into())).holds(&rec));
    }
}
