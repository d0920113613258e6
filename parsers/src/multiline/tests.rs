//! The joiner's rules, with patterns (the detectors have tests of their
//! own).

use std::sync::Arc;

use regex::Regex;

use super::*;

/// What a joiner hands out, as text: lines as they are, records in
/// brackets (`T` marks a truncated one).
fn run(j: &mut Joiner, lines: &[&str]) -> Vec<String> {
    let mut got = Vec::new();
    let mut keep = |p: Piece<'_>| {
        got.push(match p {
            Piece::Line(l) => l.to_string(),
            Piece::Record(g) => {
                assert_eq!(g.text.split('\n').count(), g.lines as usize);
                assert_eq!(&g.text[..g.head_len], g.text.split('\n').next().unwrap());
                format!("[{}]{}", g.text, if g.truncated { "T" } else { "" })
            }
        })
    };
    for l in lines {
        j.push(l, &mut keep);
    }
    j.finish(&mut keep);
    got
}

fn re(p: &str) -> Option<Regex> {
    Some(Regex::new(p).unwrap())
}

#[test]
fn start_pattern_groups_until_the_next_start() {
    let spec = Arc::new(Spec::patterns(re(r"^\d{4}-"), None));
    let mut j = Joiner::new(spec);
    let got = run(
        &mut j,
        &[
            "orphan", "2024- a", "  more", "  more2", "2024- b", "2024- c", "  c1",
        ],
    );
    assert_eq!(
        got,
        [
            "orphan",
            "[2024- a\n  more\n  more2]",
            "2024- b",
            "[2024- c\n  c1]"
        ]
    );
}

#[test]
fn continuation_pattern_groups_indented_lines() {
    let spec = Arc::new(Spec::patterns(None, re(r"^\s")));
    let mut j = Joiner::new(spec);
    let got = run(&mut j, &["  lone", "a", " a1", "b", "c", "\tc1", " c2"]);
    assert_eq!(got, ["  lone", "[a\n a1]", "b", "[c\n\tc1\n c2]"]);
}

#[test]
fn start_and_continuation_leave_other_lines_alone() {
    let spec = Arc::new(Spec::patterns(re("^START"), re(r"^\s")));
    let mut j = Joiner::new(spec);
    let got = run(&mut j, &["START x", " 1", "other", " 2", "START y"]);
    assert_eq!(got, ["[START x\n 1]", "other", " 2", "START y"]);
}

#[test]
fn bounds_cut_a_record_and_look_at_the_line_afresh() {
    let spec = Arc::new(Spec::patterns(re("^S"), None).with_bounds(3, 1 << 20));
    let mut j = Joiner::new(spec);
    let got = run(&mut j, &["S", "1", "2", "3", "4", "S2"]);
    assert_eq!(got, ["[S\n1\n2]T", "3", "4", "S2"]);

    let spec = Arc::new(Spec::patterns(re("^S"), None).with_bounds(100, 8));
    let mut j = Joiner::new(spec);
    let got = run(&mut j, &["S 12", "abc", "def"]);
    assert_eq!(got, ["[S 12\nabc]T", "def"]);
}

#[test]
fn a_saved_record_resumes_where_it_stood() {
    let spec = Arc::new(Spec::patterns(re("^S"), None));
    let mut j = Joiner::new(spec.clone());
    let mut got = Vec::new();
    for l in ["x", "S", "1"] {
        j.push(l, &mut |p| got.push(format!("{p:?}")));
    }
    assert_eq!(got.len(), 1);
    let saved = j.save().expect("open");
    drop(j);
    let mut j = Joiner::restore(spec, saved);
    assert_eq!(run(&mut j, &["2", "S3"]), ["[S\n1\n2]", "S3"]);
    assert!(j.save().is_none());
}

#[test]
fn a_prefix_is_skipped_by_the_patterns_but_kept_in_the_record() {
    let spec = Spec::patterns(None, re(r"^\s")).with_prefix(Regex::new(r"^\[\d+\] ").unwrap());
    let mut j = Joiner::new(Arc::new(spec));
    let got = run(&mut j, &["[1] a", "[2]  a1", "[3] b"]);
    assert_eq!(got, ["[[1] a\n[2]  a1]", "[3] b"]);
}
