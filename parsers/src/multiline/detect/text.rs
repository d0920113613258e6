//! Text helpers the detectors share.

/// Most bytes of a type told from free text ([`ty_of`]).
pub(super) const TY_MAX: usize = 96;

/// A crash type told from free text (a panic's message): stable per bug
/// and of low cardinality. Numbers, hexadecimal addresses and ids become
/// `N` (`1.2.3.4` and `3.5` one `N`), absolute paths `PATH`; the result is
/// cut to [`TY_MAX`] bytes, without trailing spaces or colons.
///
/// `index out of range [5] with length 3` → `index out of range [N] with
/// length N`; `open /etc/app.yaml: no such file or directory` → `open
/// PATH: no such file or directory`.
pub(super) fn ty_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len().min(TY_MAX + 4));
    // Where the last `N` ended in `out`, to fold `N.N` into one `N`.
    let mut last_n = usize::MAX;
    let mut i = 0;
    while i < b.len() && out.len() < TY_MAX {
        let c = b[i];
        let boundary = i == 0 || !is_word(b[i - 1]);
        if boundary
            && c == b'0'
            && b.get(i + 1).is_some_and(|x| x | 0x20 == b'x')
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            push_n(&mut out, &mut last_n);
            continue;
        }
        if boundary && c.is_ascii_hexdigit() {
            // An id: hexadecimal digits and dashes, with a digit, 8 bytes
            // or more, ending a word.
            let mut j = i;
            let mut digit = false;
            while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b'-') {
                digit |= b[j].is_ascii_digit();
                j += 1;
            }
            if digit && j - i >= 8 && (j == b.len() || !is_word(b[j])) {
                i = j;
                push_n(&mut out, &mut last_n);
                continue;
            }
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            push_n(&mut out, &mut last_n);
            continue;
        }
        if c == b'/'
            && (i == 0 || matches!(b[i - 1], b' ' | b'"' | b'\'' | b'(' | b'=' | b'[' | b'<'))
            && b.get(i + 1).is_some_and(|x| is_word(*x) || *x == b'.')
        {
            let mut j = i + 1;
            while j < b.len()
                && !matches!(
                    b[j],
                    b' ' | b'\t' | b'"' | b'\'' | b')' | b',' | b';' | b']' | b'>'
                )
            {
                j += 1;
            }
            while j > i + 1 && b[j - 1] == b':' {
                j -= 1;
            }
            out.push_str("PATH");
            i = j;
            continue;
        }
        let len = utf8_len(c);
        let end = (i + len).min(b.len());
        match text.get(i..end) {
            Some(s) => out.push_str(s),
            None => out.push(char::REPLACEMENT_CHARACTER),
        }
        i = end;
    }
    let mut cut = out.len().min(TY_MAX);
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    let kept = out.trim_end_matches([' ', ':', '\t']).len();
    out.truncate(kept);
    out
}

/// Appends `N`, or folds it into the `N` just before a `.`.
fn push_n(out: &mut String, last_n: &mut usize) {
    if out.len() == last_n.wrapping_add(1) && out.ends_with('.') {
        out.pop();
    } else {
        out.push('N');
    }
    *last_n = out.len();
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Bytes of the UTF-8 sequence `lead` begins (1 for a stray byte).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Whether `s` starts with one of `prefixes`.
pub(super) fn starts_with_any(s: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| s.starts_with(p))
}

/// `s` without up to two trailing `:<digits>` (a location's line and
/// column).
pub(super) fn strip_line_col(s: &str) -> &str {
    let mut s = s;
    for _ in 0..2 {
        match s.rsplit_once(':') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => s = head,
            _ => break,
        }
    }
    s
}

/// Whether `s` is empty or white space.
pub(super) fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

/// Whether `line` begins with a space or a tab.
pub(super) fn indented(line: &str) -> bool {
    matches!(line.as_bytes().first(), Some(b' ' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ty_of_hides_numbers_addresses_ids_and_paths() {
        assert_eq!(
            ty_of("index out of range [5] with length 3"),
            "index out of range [N] with length N"
        );
        assert_eq!(
            ty_of("invalid segment range [0x401000, 0x401000)"),
            "invalid segment range [N, N)"
        );
        assert_eq!(
            ty_of("header.ScopeForIPv6Address(172.20.20.24): bad address"),
            "header.ScopeForIPvNAddress(N): bad address"
        );
        assert_eq!(
            ty_of("user 9d8312b9-16d1-11f0-ad92-0242ac120015 not found"),
            "user N not found"
        );
        assert_eq!(
            ty_of("open /etc/app/config.yaml: no such file or directory"),
            "open PATH: no such file or directory"
        );
        assert_eq!(
            ty_of("Sentry detected 15 stuck task(s):"),
            "Sentry detected N stuck task(s)"
        );
        assert_eq!(ty_of("deadbeef café"), "deadbeef café");
        let long = "x".repeat(500);
        assert_eq!(ty_of(&long).len(), TY_MAX);
        let wide = "é".repeat(200);
        assert!(ty_of(&wide).len() <= TY_MAX);
    }

    #[test]
    fn strip_line_col_keeps_the_file() {
        assert_eq!(strip_line_col("/app/x.js:1:2"), "/app/x.js");
        assert_eq!(strip_line_col("node:internal/x:12:3"), "node:internal/x");
        assert_eq!(strip_line_col("src/main.rs:2"), "src/main.rs");
        assert_eq!(strip_line_col("<anonymous>"), "<anonymous>");
    }
}
