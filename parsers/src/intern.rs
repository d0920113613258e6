//! Interning of field names chosen at configuration time (regex capture
//! names, grok field names), so that parsers can hand out `&'static str`
//! names. Each distinct name is leaked once for the life of the process;
//! rebuilding a parser with the same names reuses them, so memory is bounded
//! by the number of distinct names ever configured.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The `'static` copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let set = NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    // A poisoned lock only means another thread panicked mid-insert; the set
    // itself is still consistent.
    let mut set = match set.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(s) = set.get(name) {
        return s;
    }
    let s: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(s);
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_name_same_pointer() {
        let a = super::intern("status");
        let b = super::intern(&String::from("status"));
        assert_eq!(a, "status");
        assert!(std::ptr::eq(a, b));
    }
}
