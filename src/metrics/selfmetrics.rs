//! logtally's own metrics, through the `metrics` facade.
//!
//! Names follow Prometheus conventions (`logtally_` prefix, `_total` for
//! counters, base units). Handles are created once per source, pipeline or
//! rule and kept; hot loops add to local counts and flush them in batches.

use std::sync::OnceLock;

use metrics::{describe_counter, describe_gauge, gauge, Counter, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::file_series::{self, PathFamily};

/// Lines read, per source.
pub const SOURCE_LINES: &str = "logtally_source_lines_total";
/// Bytes read, per source.
pub const SOURCE_BYTES: &str = "logtally_source_bytes_total";
/// Lines that were not valid UTF-8 (read lossily), per source.
pub const SOURCE_INVALID_UTF8: &str = "logtally_source_invalid_utf8_lines_total";
/// Lines cut at `max_line_bytes`, per source.
pub const SOURCE_TRUNCATED: &str = "logtally_source_truncated_lines_total";
/// Read errors, per source.
pub const SOURCE_ERRORS: &str = "logtally_source_read_errors_total";
/// Files open, per source.
pub const SOURCE_FILES: &str = "logtally_source_open_files";
/// Bytes of a followed file not read yet, per source and path: kept in
/// [`file_series`](super::file_series) so that a file's series goes away
/// with the file.
pub const SOURCE_UNREAD_BYTES: PathFamily = PathFamily {
    name: "logtally_source_file_unread_bytes",
    help: "Bytes of a followed file not read yet, by source and path; the series goes away when the file is released.",
};
/// Directory rescans (glob scans) of a file source.
pub const SOURCE_FILE_SCANS: &str = "logtally_source_file_scans_total";
/// Files a file source's globs match now.
pub const SOURCE_FILES_MATCHED: &str = "logtally_source_files_matched";
/// Rotations and truncations detected, per source.
pub const SOURCE_ROTATIONS: &str = "logtally_source_rotations_total";
/// Container log records that are not in the file's format (passed on as
/// they are), per source and reason.
pub const SOURCE_CONTAINER_MALFORMED: &str = "logtally_source_container_malformed_lines_total";
/// Container log lines passed on before their final part came, per source
/// and reason (`idle`, `end`).
pub const SOURCE_CONTAINER_UNFINISHED: &str = "logtally_source_container_unfinished_lines_total";
/// Container log lines joined from several partial records, per source.
pub const SOURCE_CONTAINER_JOINED: &str = "logtally_source_container_joined_lines_total";
/// Multi-line records made, per source and kind (the crash's kind, or
/// `none`).
pub const SOURCE_RECORDS: &str = "logtally_source_records_total";
/// Multi-line records cut at a bound (`max_lines`, `max_bytes`), per
/// source.
pub const SOURCE_RECORDS_TRUNCATED: &str = "logtally_source_records_truncated_total";
/// Multi-line records completed by the idle timeout, per source.
pub const SOURCE_RECORDS_TIMED_OUT: &str = "logtally_source_records_timed_out_total";
/// Label sets a source holds runners for (a `kubernetes` source's
/// containers), per source.
pub const SOURCE_LABEL_SETS: &str = "logtally_source_label_sets";
/// Lines per pipeline by result (`matched`, `unmatched`, `parse_error`).
pub const PIPELINE_LINES: &str = "logtally_pipeline_lines_total";
/// Lines a regex or grok parser matched with its general engine instead of
/// its fast path, per pipeline.
pub const PARSER_FALLBACKS: &str = "logtally_parser_fallbacks_total";
/// Rule errors by reason.
pub const RULE_ERRORS: &str = "logtally_rule_errors_total";
/// Label sets folded into the overflow series because a rule reached `max_series`.
pub const RULE_OVERFLOW: &str = "logtally_rule_series_overflow_total";
/// Kafka messages consumed, per source.
pub const KAFKA_MESSAGES: &str = "logtally_kafka_messages_total";
/// Kafka payload bytes consumed, per source.
pub const KAFKA_BYTES: &str = "logtally_kafka_bytes_total";
/// Kafka messages skipped as malformed, per source and reason.
pub const KAFKA_MALFORMED: &str = "logtally_kafka_malformed_messages_total";
/// Offset commits that succeeded, per source.
pub const KAFKA_COMMITS: &str = "logtally_kafka_commits_total";
/// Offset commits that failed, per source.
pub const KAFKA_COMMIT_FAILURES: &str = "logtally_kafka_commit_failures_total";
/// Rebalances, per source and kind (`assign`, `revoke`).
pub const KAFKA_REBALANCES: &str = "logtally_kafka_rebalances_total";
/// Partitions assigned to this instance, per source.
pub const KAFKA_ASSIGNED: &str = "logtally_kafka_assigned_partitions";
/// Consumer lag, per source, topic and partition.
pub const KAFKA_LAG: &str = "logtally_kafka_consumer_lag_messages";
/// Whether each broker connection is up, per source and broker.
pub const KAFKA_BROKER_UP: &str = "logtally_kafka_broker_up";
/// Whether at least one broker is reachable, per source.
pub const KAFKA_CONNECTED: &str = "logtally_kafka_connected";
/// Journal entries read, per journald source.
pub const JOURNALD_ENTRIES: &str = "logtally_journald_entries_total";
/// Journal entries skipped, per journald source and reason.
pub const JOURNALD_SKIPPED: &str = "logtally_journald_skipped_entries_total";
/// Saved cursors the journal no longer had or journalctl rejected, per
/// journald source and reason.
pub const JOURNALD_LOST_CURSORS: &str = "logtally_journald_lost_cursors_total";
/// journalctl runs, per journald source and result.
pub const JOURNALD_RUNS: &str = "logtally_journald_journalctl_runs_total";
/// When the last entry read was received by journald, per journald source.
pub const JOURNALD_LAST_ENTRY: &str = "logtally_journald_last_entry_timestamp_seconds";
/// Messages a source received but could not pass on, per source and reason.
pub const SOURCE_DROPPED: &str = "logtally_source_dropped_messages_total";
/// Syslog messages received, per source and transport.
pub const SYSLOG_MESSAGES: &str = "logtally_syslog_messages_total";
/// Whether a syslog source listens, per source and transport.
pub const SYSLOG_LISTENING: &str = "logtally_syslog_listening";
/// Open syslog TCP connections, per source.
pub const SYSLOG_CONNECTIONS: &str = "logtally_syslog_connections";
/// Syslog TCP connections accepted, per source.
pub const SYSLOG_ACCEPTED: &str = "logtally_syslog_connections_accepted_total";
/// Syslog TCP connections refused (over `max_connections`), per source.
pub const SYSLOG_REFUSED: &str = "logtally_syslog_connections_refused_total";
/// Syslog TCP connections closed, per source and reason.
pub const SYSLOG_CLOSED: &str = "logtally_syslog_connections_closed_total";
/// Build information.
pub const BUILD_INFO: &str = "logtally_build_info";

/// The installed self-metrics recorder.
pub struct SelfMetrics {
    handle: PrometheusHandle,
}

static INSTALLED: OnceLock<SelfMetrics> = OnceLock::new();

impl SelfMetrics {
    /// Installs the recorder (once per process) and describes every metric.
    pub fn install() -> &'static SelfMetrics {
        INSTALLED.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only fails when another recorder is installed, which this
            // process never does.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            SelfMetrics { handle }
        })
    }

    /// The self-metrics in the Prometheus text format, families sorted by
    /// name and series by labels (the exporter keeps them in hash maps).
    pub fn render(&self) -> String {
        let mut text = self.handle.render();
        file_series::render(&mut text);
        super::order::by_family_and_labels(&text)
    }
}

fn describe() {
    describe_counter!(SOURCE_LINES, Unit::Count, "Lines read, per source.");
    describe_counter!(SOURCE_BYTES, Unit::Bytes, "Bytes read, per source.");
    describe_counter!(
        SOURCE_INVALID_UTF8,
        Unit::Count,
        "Lines that were not valid UTF-8 and were read with replacement characters."
    );
    describe_counter!(
        SOURCE_TRUNCATED,
        Unit::Count,
        "Lines longer than max_line_bytes, cut to that length."
    );
    describe_counter!(
        SOURCE_ERRORS,
        Unit::Count,
        "Errors while opening or reading inputs."
    );
    describe_gauge!(SOURCE_FILES, Unit::Count, "Files open for reading.");
    describe_counter!(
        SOURCE_FILE_SCANS,
        Unit::Count,
        "Scans of a file source's globs and directories for new, rotated and vanished files."
    );
    describe_gauge!(
        SOURCE_FILES_MATCHED,
        Unit::Count,
        "Files a file source's include globs match now (minus excluded ones)."
    );
    describe_counter!(
        SOURCE_ROTATIONS,
        Unit::Count,
        "Rotations and truncations detected, by kind."
    );
    describe_counter!(
        SOURCE_CONTAINER_MALFORMED,
        Unit::Count,
        "Container log records not in the file's format (CRI or Docker json-file), passed on as they are; reason: not_cri, not_docker, no_format (auto: no record of the file was either yet)."
    );
    describe_counter!(
        SOURCE_CONTAINER_UNFINISHED,
        Unit::Count,
        "Container log lines passed on before their final part came; reason: idle (the file was idle for idle_flush), end (the file was released)."
    );
    describe_counter!(
        SOURCE_CONTAINER_JOINED,
        Unit::Count,
        "Container log lines joined from several partial records."
    );
    describe_counter!(
        SOURCE_RECORDS,
        Unit::Count,
        "Multi-line records made (several lines passed on as one), by kind: the crash's runtime (jvm, python, go, rust, dotnet, node, php, kernel), or none for a record that is not a crash."
    );
    describe_counter!(
        SOURCE_RECORDS_TRUNCATED,
        Unit::Count,
        "Multi-line records cut at max_lines or max_bytes (the lines after the cut are looked at afresh)."
    );
    describe_counter!(
        SOURCE_RECORDS_TIMED_OUT,
        Unit::Count,
        "Multi-line records completed because their input was idle for the multiline timeout."
    );
    describe_gauge!(
        SOURCE_LABEL_SETS,
        Unit::Count,
        "Label sets of a source's own (a kubernetes source: one per distinct set of labels taken from paths) held now."
    );
    describe_counter!(PIPELINE_LINES, Unit::Count, "Lines seen by each pipeline, by result: matched (at least one rule applied), unmatched, parse_error.");
    describe_counter!(
        PARSER_FALLBACKS,
        Unit::Count,
        "Lines a regex or grok pattern anchored with ^ matched with the general regex engine instead of its fast path: lines the fast path gave up on or was paused for, lines over 8 KiB, non-ASCII lines."
    );
    describe_counter!(
        RULE_ERRORS,
        Unit::Count,
        "Lines a rule matched but could not apply, by reason."
    );
    describe_counter!(
        RULE_OVERFLOW,
        Unit::Count,
        "Updates folded into a rule's overflow series because it reached max_series."
    );
    describe_counter!(
        KAFKA_MESSAGES,
        Unit::Count,
        "Kafka messages consumed, including skipped ones."
    );
    describe_counter!(KAFKA_BYTES, Unit::Bytes, "Kafka payload bytes consumed.");
    describe_counter!(
        KAFKA_MALFORMED,
        Unit::Count,
        "Kafka messages skipped, by reason: no_payload."
    );
    describe_counter!(
        KAFKA_COMMITS,
        Unit::Count,
        "Offset commits to the consumer group that succeeded."
    );
    describe_counter!(
        KAFKA_COMMIT_FAILURES,
        Unit::Count,
        "Offset commits to the consumer group that failed."
    );
    describe_counter!(
        KAFKA_REBALANCES,
        Unit::Count,
        "Consumer group rebalances seen, by kind: assign, revoke."
    );
    describe_gauge!(
        KAFKA_ASSIGNED,
        Unit::Count,
        "Partitions assigned to this instance."
    );
    describe_gauge!(
        KAFKA_LAG,
        Unit::Count,
        "Messages between the partition's end and the committed offset; 0 for partitions this instance does not own."
    );
    describe_gauge!(
        KAFKA_BROKER_UP,
        "Whether the connection to each broker is up (1) or not (0)."
    );
    describe_gauge!(
        KAFKA_CONNECTED,
        "Whether at least one Kafka broker is reachable (1) or not (0)."
    );
    describe_counter!(
        JOURNALD_ENTRIES,
        Unit::Count,
        "Journal entries read by a journald source (each one line)."
    );
    describe_counter!(
        JOURNALD_SKIPPED,
        Unit::Count,
        "Journal entries skipped, by reason: too_large (its JSON exceeds four times max_line_bytes plus 1 MiB), malformed (journalctl wrote a line that is not an entry with a cursor)."
    );
    describe_counter!(
        JOURNALD_LOST_CURSORS,
        Unit::Count,
        "Saved cursors the source could not resume at, by reason: not_found (the entry is gone; reading went on after its place), rejected (journalctl refused the cursor; the source started again per start_at)."
    );
    describe_counter!(
        JOURNALD_RUNS,
        Unit::Count,
        "journalctl runs (each reads the journal from the saved cursor to its end), by result: ok, failed."
    );
    describe_gauge!(
        JOURNALD_LAST_ENTRY,
        Unit::Seconds,
        "When journald received the last entry a journald source read (__REALTIME_TIMESTAMP), in Unix seconds."
    );
    describe_counter!(
        SOURCE_DROPPED,
        Unit::Count,
        "Messages received but not passed on, by reason: udp_buffer_full (datagrams the kernel dropped because the socket's receive buffer was full), incomplete_frame (a TCP message cut off by the end of its connection)."
    );
    describe_counter!(
        SYSLOG_MESSAGES,
        Unit::Count,
        "Syslog messages passed on, by transport: udp, tcp."
    );
    describe_gauge!(
        SYSLOG_LISTENING,
        "Whether a syslog source is bound to its address (1) or not (0), by transport."
    );
    describe_gauge!(
        SYSLOG_CONNECTIONS,
        Unit::Count,
        "Syslog TCP connections open."
    );
    describe_counter!(
        SYSLOG_ACCEPTED,
        Unit::Count,
        "Syslog TCP connections accepted."
    );
    describe_counter!(
        SYSLOG_REFUSED,
        Unit::Count,
        "Syslog TCP connections refused because max_connections were open."
    );
    describe_counter!(
        SYSLOG_CLOSED,
        Unit::Count,
        "Syslog TCP connections closed, by reason: peer (the sender closed it), error (reset, keepalive timeout), idle_timeout, framing_error (not octet-counted with framing = \"octet_counting\"), stopped (the source stopped)."
    );
    describe_gauge!(BUILD_INFO, "Build information; always 1.");
}

/// Adds a locally accumulated count to a counter handle and resets it.
#[inline]
pub fn flush(counter: &Counter, local: &mut u64) {
    if *local > 0 {
        counter.increment(*local);
        *local = 0;
    }
}
