//! Scripts the properties once failed on, each played against the model and
//! the real tailer: what went wrong is in the test's comment.

use std::time::Duration;

use super::{run, Look, Op, Setup};
use crate::source::file::decide::ROTATE_WAIT;

use Op::{CopyTruncate, Delete, Prune, Restart, Rotate, Truncate, Wait, Write};

const NARROW: Setup = Setup {
    logs: 1,
    wide: false,
    start_at_end: false,
};

const WIDE: Setup = Setup {
    logs: 1,
    wide: true,
    start_at_end: false,
};

fn both(setup: Setup, ops: &[Op]) {
    if let Err(e) = run(super::sim::SimWorld::new(setup), setup, ops) {
        panic!("model: {e}");
    }
    if let Err(e) = run(super::real::RealWorld::new(setup), setup, ops) {
        panic!("tailer: {e}");
    }
}

fn write(log: usize, lines: u8, partial: bool) -> Op {
    Write {
        log,
        lines,
        partial,
    }
}

fn rotate(create: bool, reopen: bool) -> Op {
    Rotate {
        log: 0,
        create,
        reopen,
    }
}

fn look() -> Op {
    Op::Look(Look::Scan)
}

/// Copytruncate, then a rename, between two looks: the file left its path
/// before a scan saw it truncated, and only listed files were checked, so
/// the copy's tail was never read.
#[test]
fn a_file_truncated_then_renamed_has_its_copy_read() {
    both(
        NARROW,
        &[
            write(0, 1, false),
            CopyTruncate {
                log: 0,
                slow: Some(0),
            },
            write(0, 0, true),
            rotate(false, false),
        ],
    );
}

/// The late writer fills the renamed, truncated file to exactly the size
/// read: a file being finished was only checked for shrinking, not for a
/// changed head.
#[test]
fn a_file_rewritten_to_its_size_after_leaving_its_path_is_seen() {
    both(
        NARROW,
        &[
            write(0, 3, true),
            look(),
            CopyTruncate { log: 0, slow: None },
            rotate(false, false),
            write(0, 3, false),
            look(),
        ],
    );
}

/// A copy being written is found in the same scan as its original, which
/// had read nothing yet: the copy was read from its start too.
#[test]
fn a_copy_found_with_its_unread_original_waits() {
    both(
        WIDE,
        &[
            write(0, 1, false),
            CopyTruncate {
                log: 0,
                slow: Some(10),
            },
            look(),
        ],
    );
}

/// The copy sorts before the renamed original: decided (a copy of a live
/// file, wait) before the scan found the original truncated, and the
/// restart lost what had been read of it. The copy was read again.
#[test]
fn a_copy_listed_before_its_truncated_original_is_read_past_it() {
    both(
        WIDE,
        &[
            write(0, 1, false),
            look(),
            CopyTruncate { log: 0, slow: None },
            rotate(false, false),
            look(),
            Restart,
        ],
    );
}

/// The original, truncated, is deleted: not listed, its truncation was
/// seen only after the scan had decided its copy.
#[test]
fn a_copy_of_a_deleted_truncated_original_is_read_past_it() {
    let two = Setup { logs: 2, ..WIDE };
    both(
        two,
        &[
            write(1, 1, false),
            look(),
            CopyTruncate { log: 1, slow: None },
            Delete { log: 1 },
            Restart,
        ],
    );
}

/// The truncation is seen through a write event, between scans: a copy the
/// globs select was left to the next scan, and a restart before it read the
/// copy from its start. It is followed at once now.
#[test]
fn a_selected_copy_is_followed_when_the_truncation_is_seen() {
    both(
        WIDE,
        &[
            write(0, 1, false),
            CopyTruncate {
                log: 0,
                slow: Some(0),
            },
            look(),
            rotate(false, false),
            Truncate { log: 0 },
            write(0, 0, true),
            Op::Look(Look::Written),
            Restart,
        ],
    );
}

/// What was read covers a partial line past the read offset; a copy being
/// written, longer than the offset but shorter than that, was neither the
/// content nor shorter than it, and was read from its start.
#[test]
fn a_copy_shorter_than_the_bytes_read_waits() {
    let two = Setup { logs: 2, ..WIDE };
    both(
        two,
        &[
            write(0, 2, true),
            write(1, 0, true),
            write(0, 0, true),
            look(),
            CopyTruncate {
                log: 0,
                slow: Some(80),
            },
            Delete { log: 1 },
        ],
    );
}

/// A file quiet for longer than the linger, renamed: released at the first
/// scan after, before its writer reopened.
#[test]
fn a_quiet_renamed_file_is_kept_for_its_writer() {
    both(
        NARROW,
        &[
            write(0, 1, false),
            look(),
            Wait(ROTATE_WAIT + Duration::from_secs(1)),
            rotate(false, false),
            look(),
            write(0, 1, false),
        ],
    );
}

/// An empty copy is given the inode of a file in the checkpoint, under
/// another name: taken for that file truncated, it was followed from 0 and
/// its content read twice.
#[test]
fn an_inode_given_to_a_copy_is_not_taken_for_the_checkpoints_file() {
    both(
        WIDE,
        &[
            write(0, 0, true),
            rotate(false, true),
            write(0, 0, true),
            Prune { log: 0 },
            Restart,
            CopyTruncate {
                log: 0,
                slow: Some(0),
            },
            look(),
        ],
    );
}

/// The checkpoint's file, of which nothing was read, renamed away: its
/// inode, given to a copy, was finished from 0.
#[test]
fn an_inode_of_nothing_read_given_to_a_copy_is_not_read_again() {
    both(
        NARROW,
        &[
            write(0, 0, true),
            Truncate { log: 0 },
            rotate(false, true),
            write(0, 1, false),
            Prune { log: 0 },
            Restart,
            CopyTruncate { log: 0, slow: None },
        ],
    );
}

/// Truncated while stopped, at its path: still followed from 0 at once
/// (not put off as an empty new file), so what its writer writes after it
/// is renamed is read.
#[test]
fn a_file_truncated_while_stopped_at_its_path_is_followed() {
    both(
        NARROW,
        &[
            write(0, 1, false),
            CopyTruncate { log: 0, slow: None },
            Restart,
            look(),
            rotate(false, false),
            write(0, 1, false),
        ],
    );
}

/// The checkpoint's file, of which no line was read, is removed; a copy
/// the globs select is given its inode: it was resumed at 0 as that file,
/// and its content read twice.
#[test]
fn an_inode_of_nothing_read_given_to_a_selected_copy_is_not_resumed() {
    both(
        WIDE,
        &[
            write(0, 1, false),
            Truncate { log: 0 },
            rotate(false, false),
            Prune { log: 0 },
            write(0, 0, true),
            Restart,
            CopyTruncate {
                log: 0,
                slow: Some(0),
            },
            look(),
        ],
    );
}

/// A checkpoint holding a partial first line only (one byte): that byte
/// made any file starting with it a copy of the file.
#[test]
fn a_partial_first_line_identifies_no_copy() {
    let two = Setup { logs: 2, ..WIDE };
    both(
        two,
        &[
            write(0, 0, true),
            look(),
            Restart,
            CopyTruncate { log: 0, slow: None },
            rotate(false, true),
            write(0, 0, true),
            CopyTruncate {
                log: 0,
                slow: Some(2),
            },
            write(1, 1, false),
            Delete { log: 1 },
        ],
    );
}

/// Copytruncate and a rename while stopped: the file no longer holds what
/// was read, the rest of which is in the copy (read); what the file holds
/// now cannot be told from another file's.
#[test]
fn a_changed_orphan_has_its_copy_read() {
    both(
        NARROW,
        &[
            write(0, 1, false),
            look(),
            write(0, 1, false),
            Restart,
            CopyTruncate { log: 0, slow: None },
            rotate(false, false),
            write(0, 1, false),
        ],
    );
}

/// `start_at = "end"` with a line being written: read from its middle.
#[test]
fn start_at_end_reads_a_line_in_progress_whole() {
    let end = Setup {
        start_at_end: true,
        ..NARROW
    };
    both(end, &[write(0, 2, true), look(), write(0, 1, false)]);
}
