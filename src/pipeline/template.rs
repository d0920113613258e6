//! Label templates: literal text mixed with `{field}` references.
//!
//! `"{status}"` copies a field; `"{method} {path}"` mixes fields and text;
//! `"static"` is a constant; `{{` and `}}` stand for literal braces.

use std::fmt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// The value of a field (empty when absent).
    Field(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `src`; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &src[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed '{{' at character {}", i + 1))?;
                    let name = rest[..end].trim();
                    if name.is_empty() {
                        return Err("empty field reference '{}'".into());
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Field(name.to_string()));
                    for _ in 0..=end {
                        chars.next();
                    }
                }
                '}' => return Err(format!("unmatched '}}' at character {}", i + 1)),
                c => text.push(c),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// A template that is just `field`.
    pub fn field(name: &str) -> Self {
        Self {
            parts: vec![Part::Field(name.to_string())],
        }
    }

    /// The pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The constant value, when the template references no field.
    pub fn constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                Part::Text(t) => write!(f, "{}", t.replace('{', "{{").replace('}', "}}"))?,
                Part::Field(n) => write!(f, "{{{n}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mixed_templates() {
        let t = Template::parse("{method} {path}!").unwrap();
        assert_eq!(
            t.parts(),
            &[
                Part::Field("method".into()),
                Part::Text(" ".into()),
                Part::Field("path".into()),
                Part::Text("!".into())
            ]
        );
        assert_eq!(Template::parse("x{{y}}").unwrap().constant(), Some("x{y}"));
        assert_eq!(Template::parse("").unwrap().constant(), Some(""));
    }

    #[test]
    fn rejects_broken_templates() {
        assert!(Template::parse("{status").is_err());
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("{}").is_err());
    }
}
