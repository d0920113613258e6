//! Interning of field names chosen at configuration time (regex capture
//! names, grok field names), so that parsers can hand out `&'static str`
//! names, and of their lists (a schema that [`crate::Fields`] recognises
//! from line to line). Each distinct name or list is leaked once for the
//! life of the process; rebuilding a parser with the same names reuses
//! them, so memory is bounded by the names and schemas ever configured.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The `'static` copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    interned(&NAMES, name, |n| Box::leak(n.into()))
}

/// The `'static` copy of a list of names.
pub(crate) fn intern_names(names: &[&'static str]) -> &'static [&'static str] {
    static LISTS: OnceLock<Mutex<HashSet<&'static [&'static str]>>> = OnceLock::new();
    interned(&LISTS, names, |n| Box::leak(n.into()))
}

/// The member of `set` equal to `value`, added with `leak` if missing.
fn interned<T: ?Sized + Eq + std::hash::Hash>(
    set: &OnceLock<Mutex<HashSet<&'static T>>>,
    value: &T,
    leak: impl FnOnce(&T) -> &'static T,
) -> &'static T {
    let set = set.get_or_init(|| Mutex::new(HashSet::new()));
    // A poisoned lock only means another thread panicked mid-insert; the set
    // itself is still consistent.
    let mut set = match set.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(s) = set.get(value) {
        return s;
    }
    let s = leak(value);
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
        let names = super::intern_names(&[a, "path"]);
        assert_eq!(names, ["status", "path"]);
        assert!(std::ptr::eq(names, super::intern_names(&[b, "path"])));
        assert!(!std::ptr::eq(names, super::intern_names(&["path"])));
    }
}
