//! What a `[[sources]]` entry asks for, checked: the kinds of source and
//! their settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use logtally_parsers::multiline;

/// A source of lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// Unique name.
    pub name: String,
    /// What it reads.
    pub kind: SourceKind,
    /// Labels added to every metric derived from its lines, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Longest line kept, in bytes.
    pub max_line_bytes: usize,
    /// How its lines are grouped into multi-line records (`None`: each
    /// line on its own).
    pub multiline: Option<MultilineSpec>,
}

/// How a source groups the lines of each of its inputs into records (a
/// stack trace, a traceback), checked: the `multiline` key.
#[derive(Debug, Clone)]
pub struct MultilineSpec {
    /// The grouping, built once and shared by every input's joiner.
    pub spec: Arc<multiline::Spec>,
    /// Records are told by the built-in detectors (`auto`), not by
    /// patterns: a record that is not a crash passes through as its lines.
    pub auto: bool,
    /// How long an open record waits for its next line before it is taken
    /// as complete.
    pub timeout: Duration,
    /// JSON lines: records are made of this field of each line (its string
    /// value); `None`: of the lines themselves.
    pub field: Option<String>,
    /// What it was configured as, in words (`logtally check` shows it; two
    /// specs are equal when it is).
    pub summary: String,
}

impl PartialEq for MultilineSpec {
    fn eq(&self, other: &Self) -> bool {
        self.summary == other.summary
    }
}

impl Eq for MultilineSpec {}

/// The kinds of source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Files matched by globs.
    File(FileSpec),
    /// Standard input.
    Stdin,
    /// Kafka topics, consumed as a member of a consumer group.
    Kafka(KafkaSpec),
    /// The systemd journal, read through `journalctl`.
    Journald(JournaldSpec),
    /// Syslog messages received over UDP and/or TCP.
    Syslog(SyslogSpec),
    /// The container log files kubelet keeps under `/var/log/pods`.
    Kubernetes(KubernetesSpec),
}

impl SourceKind {
    /// The kind's name, as `type` gives it.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::File(_) => "file",
            SourceKind::Stdin => "stdin",
            SourceKind::Kafka(_) => "kafka",
            SourceKind::Journald(_) => "journald",
            SourceKind::Syslog(_) => "syslog",
            SourceKind::Kubernetes(_) => "kubernetes",
        }
    }
}

impl SourceSpec {
    /// Every label the source may put on a metric: its static labels and,
    /// for a `kubernetes` source, those it takes from file paths.
    pub fn label_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.labels.iter().map(|(k, _)| k.as_str()).collect();
        if let SourceKind::Kubernetes(k) = &self.kind {
            names.extend(k.labels_from_path.iter().map(|l| l.name()));
        }
        names
    }
}

/// How a syslog TCP stream is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFraming {
    /// Each message on its own: octet-counted (RFC 6587 3.4.1) when it
    /// starts with `LENGTH SP`, else ended by a newline.
    Auto,
    /// Messages ended by a newline (RFC 6587 3.4.2, "non-transparent").
    Newline,
    /// Every message is `LENGTH SP MESSAGE` (RFC 6587 3.4.1, RFC 5425).
    OctetCounting,
}

/// A syslog source: a UDP socket, a TCP listener, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSpec {
    /// Where to receive datagrams.
    pub udp: Option<std::net::SocketAddr>,
    /// Where to accept connections.
    pub tcp: Option<std::net::SocketAddr>,
    /// How TCP streams are cut into messages.
    pub framing: SyslogFraming,
    /// Most TCP connections open at once; more are refused.
    pub max_connections: usize,
    /// The UDP socket's receive buffer (`SO_RCVBUF`), when set.
    pub receive_buffer_bytes: Option<usize>,
    /// How long a TCP connection may stay silent before it is closed
    /// (`None`: never).
    pub idle_timeout: Option<Duration>,
}

/// Where a consumer group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaStartAt {
    /// The oldest message the broker still holds.
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// How a Kafka message is cut into lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaFraming {
    /// The whole payload is one line (a trailing newline is dropped).
    Message,
    /// The payload holds lines separated by newlines.
    Lines,
}

/// A Kafka source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSpec {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic names.
    pub topics: Vec<String>,
    /// Regular expression over topic names (unanchored as written; anchored
    /// with `^` for librdkafka).
    pub topic_pattern: Option<String>,
    /// Consumer group.
    pub group_id: String,
    /// Where a group without committed offsets starts.
    pub start_at: KafkaStartAt,
    /// Message to lines.
    pub framing: KafkaFraming,
    /// How often processed offsets are committed.
    pub commit_interval: Duration,
    /// librdkafka settings passed through, by name.
    pub options: Vec<(String, String)>,
}

impl KafkaSpec {
    /// The subscriptions handed to librdkafka: names, and the pattern as
    /// `^regex`.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut subs = self.topics.clone();
        if let Some(p) = &self.topic_pattern {
            subs.push(anchored(p));
        }
        subs
    }
}

/// Where reading a file starts when it is first seen at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From its first byte.
    Beginning,
    /// From its current end (only new lines count).
    End,
}

/// A file source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Globs to follow.
    pub include: Vec<String>,
    /// Globs to leave out.
    pub exclude: Vec<String>,
    /// Where files present at start-up are read from.
    pub start_at: StartAt,
    /// How often files are looked at for growth, rotation and new matches.
    pub poll_interval: Duration,
    /// How long an unterminated last line waits for its newline.
    pub idle_flush: Duration,
    /// Most files open at once.
    pub max_open_files: usize,
    /// How lines are wrapped in the files (container runtimes' formats).
    pub format: LineFormat,
}

/// How the lines of a file are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// As written: each line is a line.
    Plain,
    /// CRI (containerd, CRI-O): `<time> <stream> <P|F> <message>`, partial
    /// records joined.
    Cri,
    /// Docker's `json-file`: `{"log":"…","stream":"…","time":"…"}`, partial
    /// records joined.
    Docker,
    /// CRI or Docker, told per file by its first record that is either.
    Auto,
}

impl LineFormat {
    /// The configuration's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFormat::Plain => "plain",
            LineFormat::Cri => "cri",
            LineFormat::Docker => "docker",
            LineFormat::Auto => "auto",
        }
    }
}

/// A label a `kubernetes` source takes from the path of a log file,
/// `<pods_dir>/<namespace>_<pod>_<uid>/<container>/<n>.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathLabel {
    /// The pod's namespace.
    Namespace,
    /// The pod's name.
    Pod,
    /// The container's name.
    Container,
    /// The ReplicaSet hash in the pod's name (Deployments and Argo
    /// Rollouts), when it has one.
    PodTemplateHash,
}

impl PathLabel {
    /// Every path label, in the order of the path.
    pub const ALL: [PathLabel; 4] = [
        PathLabel::Namespace,
        PathLabel::Pod,
        PathLabel::Container,
        PathLabel::PodTemplateHash,
    ];

    /// The label's name.
    pub fn name(self) -> &'static str {
        match self {
            PathLabel::Namespace => "namespace",
            PathLabel::Pod => "pod",
            PathLabel::Container => "container",
            PathLabel::PodTemplateHash => "pod_template_hash",
        }
    }
}

/// A `kubernetes` source: the files of `/var/log/pods`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSpec {
    /// Where kubelet keeps pod logs.
    pub pods_dir: PathBuf,
    /// Namespace globs to read (empty: all).
    pub namespaces: Vec<String>,
    /// Namespace globs to leave out.
    pub exclude_namespaces: Vec<String>,
    /// Pod name globs to read (empty: all).
    pub pods: Vec<String>,
    /// Pod name globs to leave out.
    pub exclude_pods: Vec<String>,
    /// Container name globs to read (empty: all).
    pub containers: Vec<String>,
    /// Container name globs to leave out.
    pub exclude_containers: Vec<String>,
    /// Which parts of a file's path become labels of its lines' metrics.
    pub labels_from_path: Vec<PathLabel>,
    /// How the files' lines are wrapped (`Auto` unless set).
    pub format: LineFormat,
    /// Where files present at start-up are read from.
    pub start_at: StartAt,
    /// How often the pod directories are looked at.
    pub poll_interval: Duration,
    /// How long an unfinished line waits for its end.
    pub idle_flush: Duration,
    /// Most files open at once.
    pub max_open_files: usize,
}

/// The line a journal entry becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalFormat {
    /// Its `MESSAGE`.
    Message,
    /// A syslog line, `<PRI>Mmm dd hh:mm:ss HOST IDENT[PID]: MESSAGE`, as
    /// syslog daemons write the same entry (read with `parser = "syslog"`).
    Syslog,
}

/// Which journal a journald source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalSelection {
    /// The local system's journal (journalctl's default).
    System,
    /// The journal files in a directory (`journalctl --directory`).
    Directory(PathBuf),
    /// Journal files, by path or glob (`journalctl --file`).
    Files(Vec<String>),
}

/// A journald source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaldSpec {
    /// The journal read.
    pub journal: JournalSelection,
    /// journalctl matches (`FIELD=value`, `+` between alternatives).
    pub matches: Vec<String>,
    /// Units (`journalctl --unit`).
    pub units: Vec<String>,
    /// Where a source without a saved cursor starts.
    pub start_at: StartAt,
    /// What line each entry becomes.
    pub format: JournalFormat,
    /// The journalctl program: a path, or a name looked up in `PATH`.
    pub journalctl: String,
    /// Shortest time between two reads of the journal.
    pub read_interval: Duration,
}

/// `pattern` anchored at the start of the topic name, the way librdkafka
/// recognises a pattern subscription.
pub fn anchored(pattern: &str) -> String {
    if pattern.starts_with('^') {
        pattern.to_string()
    } else {
        format!("^{pattern}")
    }
}
