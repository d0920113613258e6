//! `logtally check`: validate a configuration and report every error.

use std::path::Path;

use super::load;

/// Checks the file; prints a summary (and any warnings) on success or
/// every error on failure.
/// Returns the process exit code.
pub fn check(path: &Path) -> i32 {
    match load(Some(path)) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            let rules: usize = c.pipelines.iter().map(|p| p.rules.len()).sum();
            let gates = match c.gates.len() {
                0 => String::new(),
                n => format!(", {n} gate{}", plural(n)),
            };
            println!(
                "{}: OK ({} source{}, {} pipeline{}, {} rule{}{gates})",
                path.display(),
                c.sources.len(),
                plural(c.sources.len()),
                c.pipelines.len(),
                plural(c.pipelines.len()),
                rules,
                plural(rules)
            );
            for s in &c.sources {
                if let Some(m) = &s.multiline {
                    println!("  source `{}`: multi-line records: {}", s.name, m.summary);
                }
            }
            0
        }
        Err(errors) => {
            eprint!("{errors}");
            1
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
