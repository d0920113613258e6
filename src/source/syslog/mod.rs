//! Syslog over the network: datagrams on a UDP socket (RFC 5426) and
//! streams on TCP connections (RFC 6587: octet-counted or newline-ended
//! messages), RFC 3164 and RFC 5424 alike.
//!
//! One thread per source waits in `poll(2)` on the UDP socket, the TCP
//! listener and every open connection, at most `POLL_WAIT` (200 ms) at a time (so
//! that it sees a stop request promptly and never spins while idle). Each
//! wake-up is one batch: every datagram waiting (up to `UDP_BUDGET`),
//! a few reads of each connection that has data, then a commit. Each
//! message is passed on as received, without its length prefix or its
//! line feed, with the context fields of its sender (`Context`), so that
//! `parser = "syslog"` pipelines read it as they read a log file.
//!
//! Guarantees and their limits:
//! - TCP: the source reads a connection only when it has applied what it
//!   read before, so a busy pipeline slows the senders down (the kernel's
//!   buffers fill, then their writes wait) rather than losing messages.
//!   While the agent runs, every message a sender wrote on a connection
//!   that it then closed is counted exactly once. A message cut off by
//!   the end of its connection, an idle timeout, an error or the source's
//!   stop is counted in `logtally_source_dropped_messages_total` with
//!   `reason="incomplete_frame"` (a newline-ended last line is complete
//!   when the sender closed the connection, and is passed on).
//! - UDP: a datagram is lost when the socket's receive buffer is full; the
//!   kernel counts those (`SO_MEMINFO`), and the source adds them to
//!   `logtally_source_dropped_messages_total{reason="udp_buffer_full"}`
//!   after each wake-up, so received + dropped is what was sent to it.
//! - Bounded: at most `max_connections` connections (more are accepted and
//!   closed at once, counted), each holding at most `max_line_bytes + 1`
//!   bytes of a message that spans reads; one read buffer per source.
//! - Network input cannot be read again: with `[state]`, the values are
//!   checkpointed like any other, but messages in flight when the agent
//!   stops abruptly are lost (the sender's, the kernel's).
//! - On stop (and on a reload that changes the source), what the kernel
//!   already holds is read and counted before the sockets are closed.
//! - Multi-line records (`multiline`): one open record per sender's
//!   process, as each message's header names it (host, app name, process
//!   id; a message without a syslog header: its sender's address), over
//!   every connection and datagram. At most [`MAX_OPEN`] are open at once
//!   (past that, the one idle longest is completed). A record is completed
//!   after `timeout` of quiet from its process (the poll wakes for it) and
//!   when the source stops: the network cannot be read again, so open
//!   records are never saved in checkpoints. A record carries the context
//!   fields of the message that opened it.

pub mod frames;
mod net;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, Counter, Gauge};
use tracing::{debug, error, info, warn};

use logtally_parsers::multiline::Piece;
use logtally_parsers::syslog::{SyslogFormat, SyslogParser};
use logtally_parsers::{Fields, Parser};

use super::contract::{Control, Sink, Source};
use super::framing::{self, FrameCounts};
use super::records::{self, Keyed, RecordStats, Why};
use super::spec::MultilineSpec;
use super::Dispatcher;
use crate::metrics::selfmetrics::{
    self, SOURCE_DROPPED, SYSLOG_ACCEPTED, SYSLOG_CLOSED, SYSLOG_CONNECTIONS, SYSLOG_LISTENING,
    SYSLOG_MESSAGES, SYSLOG_REFUSED,
};
use crate::pipeline::record::ContextFields;
use crate::source::spec::SyslogSpec;
use frames::Decoder;

/// Prefix of the context fields of a syslog message.
pub const FIELD_PREFIX: &str = "_syslog.";

/// Longest wait in `poll` before the source looks at its stop flag,
/// idle connections and the kernel's drop count.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// How often an address that could not be bound is tried again.
const BIND_RETRY: Duration = Duration::from_secs(1);

/// Datagrams read per wake-up, at most.
const UDP_BUDGET: usize = 1024;

/// Reads of one connection per wake-up, at most (others get their turn).
const TCP_READS: usize = 4;

/// Connections accepted per wake-up, at most.
const ACCEPTS: usize = 64;

/// Bytes per read: a whole datagram (the UDP maximum is 65,507 bytes over
/// IPv4), or a chunk of a stream.
const READ_BUF: usize = 64 * 1024;

/// Silence after which TCP keepalive probes a connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// How long accepting pauses after `accept` failed for want of resources
/// (file descriptors, memory).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Bytes read per connection when the source stops, at most.
const STOP_DRAIN: usize = 4 << 20;

/// Multi-line records open at once, at most (one per sender's process).
pub const MAX_OPEN: usize = 10_000;

/// Repeated warnings (refused connections, drops, framing errors) are
/// logged at most this often, with how many were left out.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A syslog source: a UDP socket, a TCP listener, or both.
pub struct SyslogSource {
    spec: SyslogSpec,
    /// How lines are grouped into multi-line records, if they are.
    multiline: Option<MultilineSpec>,
}

impl SyslogSource {
    /// The source configured as `spec` (its name comes with its control).
    pub fn new(spec: &SyslogSpec) -> Self {
        Self {
            spec: spec.clone(),
            multiline: None,
        }
    }

    /// Groups each sender process's messages into multi-line records as
    /// `multiline` says.
    pub fn with_multiline(mut self, multiline: Option<MultilineSpec>) -> Self {
        self.multiline = multiline;
        self
    }
}

/// Binds each address of `spec` and lets it go: a clear error now, at
/// start-up, for an address taken or not allowed (a privileged port, an
/// address not on this host), rather than a source that never listens.
pub fn check_bind(spec: &SyslogSpec) -> Result<(), String> {
    if let Some(a) = spec.udp {
        UdpSocket::bind(a).map_err(|e| bind_error("udp", a, &e))?;
    }
    if let Some(a) = spec.tcp {
        TcpListener::bind(a).map_err(|e| bind_error("tcp", a, &e))?;
    }
    Ok(())
}

/// What to say when `address` cannot be bound.
fn bind_error(transport: &str, address: SocketAddr, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => " (another process listens there: stop it or pick another port)",
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE: give logtally the capability or use a port such as 5514)"
        }
        io::ErrorKind::AddrNotAvailable => " (the IP address is not one of this host's)",
        _ => "",
    };
    format!("cannot listen for syslog on {transport} {address}: {e}{hint}")
}

impl Source for SyslogSource {
    /// An address that cannot be bound stops the start, named.
    fn preflight(&self) -> Result<(), String> {
        check_bind(&self.spec)
    }

    fn run(self: Box<Self>, mut sink: Sink, control: Control) {
        if !control.follows() {
            warn!(
                source = control.name(),
                "a syslog source has no end to read to; not started"
            );
            return;
        }
        let ready = control.ready_flag();
        let mut server = Server::new(control.name(), self.spec, sink.max_line());
        server.grouping = self
            .multiline
            .as_ref()
            .map(|m| Grouping::new(m, control.name()));
        while !control.stopping() {
            server.bind_missing();
            ready.store(server.bound(), Ordering::Relaxed);
            server.turn(&mut sink, POLL_WAIT);
        }
        ready.store(false, Ordering::Relaxed);
        server.shut_down(&mut sink);
    }
}

/// A sender, as its messages' context fields give it.
#[derive(Clone)]
struct Peer {
    /// The address as the socket gave it.
    addr: SocketAddr,
    /// `ip:port` (`[ip]:port` for IPv6), an IPv4 sender on a dual-stack
    /// socket written as IPv4.
    text: String,
    /// The IP address alone.
    ip: String,
}

impl Peer {
    fn new(addr: SocketAddr) -> Self {
        let canonical = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        Self {
            addr,
            text: canonical.to_string(),
            ip: canonical.ip().to_string(),
        }
    }
}

/// The context fields of one message.
///
/// | field | value |
/// | --- | --- |
/// | `_syslog.peer` | the sender's `ip:port` |
/// | `_syslog.peer_ip` | the sender's IP address |
/// | `_syslog.transport` | `udp` or `tcp` |
struct Context<'a> {
    peer: &'a Peer,
    transport: &'static str,
}

impl ContextFields for Context<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        field(self.peer, self.transport, name)
    }
}

/// The context field `name` of a message from `peer` over `transport`.
fn field<'a>(peer: &'a Peer, transport: &'static str, name: &str) -> Option<&'a str> {
    match name.strip_prefix(FIELD_PREFIX)? {
        "peer" => Some(&peer.text),
        "peer_ip" => Some(&peer.ip),
        "transport" => Some(transport),
        _ => None,
    }
}

/// A copy of a message's context fields, kept with the record it opened.
struct OwnedContext {
    peer: Peer,
    transport: &'static str,
}

impl ContextFields for OwnedContext {
    fn get(&self, name: &str) -> Option<&str> {
        field(&self.peer, self.transport, name)
    }
}

/// The multi-line records of a source: one open record per sender's
/// process.
struct Grouping {
    keyed: Keyed<OwnedContext>,
    parser: SyslogParser,
    fields: Fields,
    /// The input of the message being read.
    key: String,
}

impl Grouping {
    fn new(spec: &MultilineSpec, source: &str) -> Self {
        Self {
            keyed: Keyed::new(spec, RecordStats::new(source), MAX_OPEN, Instant::now()),
            parser: SyslogParser::new(SyslogFormat::Auto),
            fields: Fields::new(),
            key: String::new(),
        }
    }

    /// Takes the message `line` received with `ctx`, read `now` (each of
    /// its lines, when it holds several).
    fn take(&mut self, d: &mut Dispatcher, line: &str, ctx: &Context<'_>, now: Instant) {
        self.key.clear();
        // The sender's process as the header names it: host, app name,
        // process id; without a header, the sender's address.
        match self.parser.parse(line, &mut self.fields) {
            Ok(()) => {
                let f = &self.fields;
                for (i, sep) in [(5, " "), (6, "["), (7, "]")] {
                    self.key.push_str(f.value_at(line, i).unwrap_or_default());
                    self.key.push_str(sep);
                }
            }
            Err(_) => self.key.push_str(&ctx.peer.text),
        }
        // A message holding newlines (octet-counted) is its lines.
        for part in line.split('\n') {
            let copy = || OwnedContext {
                peer: ctx.peer.clone(),
                transport: ctx.transport,
            };
            self.keyed
                .push(&self.key, part, now, ctx, copy, &mut |p, c| {
                    records::deliver_in(d, p, c)
                });
        }
    }
}

/// Why a connection was closed (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    Peer,
    Error,
    IdleTimeout,
    FramingError,
    Stopped,
}

impl Closed {
    const ALL: [Closed; 5] = [
        Closed::Peer,
        Closed::Error,
        Closed::IdleTimeout,
        Closed::FramingError,
        Closed::Stopped,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::Peer => "peer",
            Closed::Error => "error",
            Closed::IdleTimeout => "idle_timeout",
            Closed::FramingError => "framing_error",
            Closed::Stopped => "stopped",
        }
    }
}

/// Self-metric handles of one syslog source.
struct Stats {
    udp_messages: Counter,
    tcp_messages: Counter,
    udp_dropped: Counter,
    incomplete: Counter,
    udp_listening: Gauge,
    tcp_listening: Gauge,
    connections: Gauge,
    accepted: Counter,
    refused: Counter,
    closed: [Counter; 5],
    /// Messages passed on since the last flush, per transport.
    udp_local: u64,
    tcp_local: u64,
}

impl Stats {
    /// Handles for `source`; those of a transport it does not listen on do
    /// nothing, so that its series do not exist.
    fn new(source: &str, spec: &SyslogSpec) -> Self {
        let s = || source.to_string();
        let (udp, tcp) = (spec.udp.is_some(), spec.tcp.is_some());
        let count = |on: bool, name: &'static str, labels: &[(&'static str, &'static str)]| {
            if !on {
                return Counter::noop();
            }
            let mut all = vec![metrics::Label::new("source", s())];
            all.extend(labels.iter().map(|(k, v)| metrics::Label::new(*k, *v)));
            let c = counter!(name, all);
            // At 0 from the start.
            c.increment(0);
            c
        };
        let level = |on: bool, name: &'static str, labels: &[(&'static str, &'static str)]| {
            if !on {
                return Gauge::noop();
            }
            let mut all = vec![metrics::Label::new("source", s())];
            all.extend(labels.iter().map(|(k, v)| metrics::Label::new(*k, *v)));
            let g = gauge!(name, all);
            g.set(0.0);
            g
        };
        Self {
            udp_messages: count(udp, SYSLOG_MESSAGES, &[("transport", "udp")]),
            tcp_messages: count(tcp, SYSLOG_MESSAGES, &[("transport", "tcp")]),
            udp_dropped: count(udp, SOURCE_DROPPED, &[("reason", "udp_buffer_full")]),
            incomplete: count(tcp, SOURCE_DROPPED, &[("reason", "incomplete_frame")]),
            udp_listening: level(udp, SYSLOG_LISTENING, &[("transport", "udp")]),
            tcp_listening: level(tcp, SYSLOG_LISTENING, &[("transport", "tcp")]),
            connections: level(tcp, SYSLOG_CONNECTIONS, &[]),
            accepted: count(tcp, SYSLOG_ACCEPTED, &[]),
            refused: count(tcp, SYSLOG_REFUSED, &[]),
            closed: Closed::ALL.map(|c| count(tcp, SYSLOG_CLOSED, &[("reason", c.label())])),
            udp_local: 0,
            tcp_local: 0,
        }
    }

    fn closed(&self, why: Closed) -> &Counter {
        &self.closed[why as usize]
    }

    fn flush(&mut self) {
        selfmetrics::flush(&self.udp_messages, &mut self.udp_local);
        selfmetrics::flush(&self.tcp_messages, &mut self.tcp_local);
    }
}

/// A warning repeated at most once per [`WARN_EVERY`], saying how many
/// times it was left out meanwhile.
#[derive(Default)]
struct Limiter {
    last: Option<Instant>,
    left_out: u64,
}

impl Limiter {
    /// `Some(left out since the last one)` when this one is to be logged.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < WARN_EVERY => {
                self.left_out += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.left_out))
            }
        }
    }
}

/// The UDP socket.
struct Udp {
    socket: UdpSocket,
    /// The kernel's drop count last read (`None`: it does not tell).
    drops: Option<u32>,
    /// The sender of the last datagram (senders send in runs).
    peer: Option<Peer>,
    drop_warnings: Limiter,
    error_warnings: Limiter,
}

/// The TCP listener.
struct Tcp {
    listener: TcpListener,
    /// Accepting resumes then (after running out of file descriptors).
    paused_until: Option<Instant>,
    refusals: Limiter,
    accept_errors: Limiter,
}

/// An open connection.
struct Conn {
    stream: TcpStream,
    peer: Peer,
    decoder: Decoder,
    /// When it last sent something (or was accepted).
    last_read: Instant,
}

/// The sockets of one source and what they hold.
struct Server {
    source: String,
    spec: SyslogSpec,
    max_line: usize,
    udp: Option<Udp>,
    tcp: Option<Tcp>,
    conns: Vec<Conn>,
    /// Binding is tried again then.
    next_bind: Instant,
    bind_warnings: Limiter,
    framing_warnings: Limiter,
    /// One read buffer for every socket.
    buf: Vec<u8>,
    fds: Vec<libc::pollfd>,
    stats: Stats,
    /// Multi-line records, when lines are grouped.
    grouping: Option<Grouping>,
}

impl Server {
    fn new(source: &str, spec: SyslogSpec, max_line: usize) -> Self {
        Self {
            source: source.to_string(),
            stats: Stats::new(source, &spec),
            spec,
            max_line,
            udp: None,
            tcp: None,
            conns: Vec::new(),
            next_bind: Instant::now(),
            bind_warnings: Limiter::default(),
            framing_warnings: Limiter::default(),
            buf: vec![0; READ_BUF],
            fds: Vec::new(),
            grouping: None,
        }
    }

    /// `wait`, or less when an open record is due sooner.
    fn wait(&self, wait: Duration) -> Duration {
        match self.grouping.as_ref().and_then(|g| g.keyed.deadline()) {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        }
    }

    /// Completes the records whose process was quiet for the timeout (or
    /// all of them, when `all`), in a batch of their own.
    fn end_records(&mut self, sink: &mut Sink, all: bool) {
        let Some(g) = &mut self.grouping else { return };
        let now = Instant::now();
        if g.keyed.is_empty() || (!all && g.keyed.deadline().is_none_or(|d| d > now)) {
            return;
        }
        let batch = sink.batch();
        let d = sink.dispatcher();
        let mut out = |p: Piece<'_>, c: Option<&dyn ContextFields>| records::deliver_in(d, p, c);
        if all {
            g.keyed.finish(Why::End, &mut out);
        } else {
            g.keyed.expire(now, &mut out);
        }
        sink.commit(&batch, |_| {});
    }

    /// Every configured address is bound.
    fn bound(&self) -> bool {
        self.spec.udp.is_some() == self.udp.is_some()
            && self.spec.tcp.is_some() == self.tcp.is_some()
    }

    /// Binds the addresses not bound yet (at most once per [`BIND_RETRY`]).
    fn bind_missing(&mut self) {
        let now = Instant::now();
        if self.bound() || now < self.next_bind {
            return;
        }
        let mut failures = Vec::new();
        if let (Some(a), None) = (self.spec.udp, &self.udp) {
            match self.bind_udp(a) {
                Ok(u) => {
                    self.stats.udp_listening.set(1.0);
                    self.udp = Some(u);
                }
                Err(e) => failures.push(bind_error("udp", a, &e)),
            }
        }
        if let (Some(a), None) = (self.spec.tcp, &self.tcp) {
            match bind_tcp(a) {
                Ok(listener) => {
                    info!(source = %self.source, address = %a, framing = ?self.spec.framing, max_connections = self.spec.max_connections, "listening for syslog over tcp");
                    self.stats.tcp_listening.set(1.0);
                    self.tcp = Some(Tcp {
                        listener,
                        paused_until: None,
                        refusals: Limiter::default(),
                        accept_errors: Limiter::default(),
                    });
                }
                Err(e) => failures.push(bind_error("tcp", a, &e)),
            }
        }
        if !failures.is_empty() {
            self.next_bind = now + BIND_RETRY;
            if let Some(left_out) = self.bind_warnings.allow(now) {
                for f in failures {
                    error!(source = %self.source, retries_left_out = left_out, "{f}; trying again every second");
                }
            }
        }
    }

    fn bind_udp(&self, address: SocketAddr) -> io::Result<Udp> {
        let socket = UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        if let Some(want) = self.spec.receive_buffer_bytes {
            let granted = net::set_receive_buffer(&socket, want)?;
            if granted < want {
                warn!(source = %self.source, asked = want, granted, "the kernel granted a smaller UDP receive buffer than receive_buffer_bytes: raise net.core.rmem_max (sysctl), or give logtally CAP_NET_ADMIN");
            }
        }
        let drops = net::dropped(&socket);
        if drops.is_none() {
            warn!(source = %self.source, "this kernel does not report the datagrams it drops (SO_MEMINFO, Linux 4.6): UDP losses are not counted");
        }
        info!(source = %self.source, address = %address, receive_buffer_bytes = net::receive_buffer(&socket).unwrap_or(0), "listening for syslog over udp");
        Ok(Udp {
            socket,
            drops,
            peer: None,
            drop_warnings: Limiter::default(),
            error_warnings: Limiter::default(),
        })
    }

    /// Waits up to `wait` for something to read, reads it in one batch,
    /// accepts new connections, closes idle ones and counts drops.
    fn turn(&mut self, sink: &mut Sink, wait: Duration) {
        self.fds.clear();
        let udp_at = self.udp.as_ref().map(|u| {
            self.fds.push(net::readable(u.socket.as_raw_fd()));
            self.fds.len() - 1
        });
        let now = Instant::now();
        let tcp_at = match &self.tcp {
            Some(t) if t.paused_until.is_none_or(|p| now >= p) => {
                self.fds.push(net::readable(t.listener.as_raw_fd()));
                Some(self.fds.len() - 1)
            }
            _ => None,
        };
        let conns_at = self.fds.len();
        self.fds.extend(
            self.conns
                .iter()
                .map(|c| net::readable(c.stream.as_raw_fd())),
        );
        let wait = self.wait(wait);
        let waiting = match net::poll(&mut self.fds, wait) {
            Ok(n) => n,
            Err(e) => {
                // Not expected (bad descriptors are reported per entry):
                // wait as long as poll would have, rather than spin.
                warn!(source = %self.source, error = %e, "poll failed");
                std::thread::sleep(wait);
                0
            }
        };
        let now = Instant::now();
        let ready =
            |fds: &[libc::pollfd], at: Option<usize>| at.is_some_and(|i| net::ready(&fds[i]));
        if waiting > 0 {
            let batch = sink.batch();
            let mut counts = FrameCounts::default();
            if ready(&self.fds, udp_at) {
                self.read_udp(sink, &mut counts, UDP_BUDGET);
            }
            // Backwards: closing a connection moves the last one into its
            // place, which has had its turn already.
            for i in (0..self.fds.len() - conns_at).rev() {
                if net::ready(&self.fds[conns_at + i]) {
                    self.read_conn(i, sink, &mut counts, now, TCP_READS);
                }
            }
            sink.count(counts);
            sink.commit(&batch, |_| {});
            drop(batch);
            if ready(&self.fds, tcp_at) {
                self.accept(sink, now);
            }
        }
        if let Some(limit) = self.spec.idle_timeout {
            for i in (0..self.conns.len()).rev() {
                if now.duration_since(self.conns[i].last_read) >= limit {
                    self.close(i, Closed::IdleTimeout);
                }
            }
        }
        self.end_records(sink, false);
        self.count_drops(now);
        self.stats.flush();
    }

    /// Reads up to `budget` datagrams, each one message.
    fn read_udp(&mut self, sink: &mut Sink, counts: &mut FrameCounts, budget: usize) {
        let Some(udp) = &mut self.udp else { return };
        let d = sink.dispatcher();
        let mut grouping = self.grouping.as_mut();
        let now = Instant::now();
        let mut n_read = 0;
        while n_read < budget {
            match udp.socket.recv_from(&mut self.buf) {
                Ok((n, addr)) => {
                    n_read += 1;
                    counts.bytes += n as u64;
                    if udp.peer.as_ref().is_none_or(|p| p.addr != addr) {
                        udp.peer = Some(Peer::new(addr));
                    }
                    let msg = &self.buf[..n];
                    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
                    if msg.is_empty() || msg == b"\r" {
                        continue;
                    }
                    let ctx = Context {
                        peer: udp.peer.as_ref().expect("set above"),
                        transport: "udp",
                    };
                    framing::emit(
                        msg,
                        self.max_line,
                        counts,
                        &mut |l: &str| match &mut grouping {
                            Some(g) => g.take(d, l, &ctx, now),
                            None => d.line_in(l, &ctx),
                        },
                    );
                    self.stats.udp_local += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    d.read_error();
                    if let Some(left_out) = udp.error_warnings.allow(Instant::now()) {
                        warn!(source = %self.source, error = %e, left_out, "receiving a datagram failed");
                    }
                    break;
                }
            }
        }
    }

    /// Reads connection `i` up to `reads` times, passing on the messages
    /// completed; closes it at its end or on an error.
    fn read_conn(
        &mut self,
        i: usize,
        sink: &mut Sink,
        counts: &mut FrameCounts,
        now: Instant,
        reads: usize,
    ) {
        let max_line = self.max_line;
        let mut closed = None;
        let mut passed = 0u64;
        let mut bytes = 0u64;
        {
            let conn = &mut self.conns[i];
            let d = sink.dispatcher();
            let ctx = Context {
                peer: &conn.peer,
                transport: "tcp",
            };
            let mut grouping = self.grouping.as_mut();
            let mut deliver = |m: &[u8]| {
                framing::emit(m, max_line, counts, &mut |l: &str| match &mut grouping {
                    Some(g) => g.take(d, l, &ctx, now),
                    None => d.line_in(l, &ctx),
                });
                passed += 1;
            };
            let mut n_reads = 0;
            while n_reads < reads {
                match conn.stream.read(&mut self.buf) {
                    Ok(0) => {
                        if let Some(inc) = conn.decoder.finish(&mut deliver) {
                            self.stats.incomplete.increment(1);
                            debug!(source = %self.source, peer = %conn.peer.text, received = inc.received, announced = inc.announced, "connection closed in the middle of a message: dropped");
                        }
                        closed = Some(Closed::Peer);
                        break;
                    }
                    Ok(n) => {
                        n_reads += 1;
                        bytes += n as u64;
                        conn.last_read = now;
                        if let Err(e) = conn.decoder.feed(&self.buf[..n], &mut deliver) {
                            if let Some(left_out) = self.framing_warnings.allow(now) {
                                warn!(source = %self.source, peer = %conn.peer.text, found = %e.found, left_out, "not an octet-counted syslog message (framing = \"octet_counting\"): closing the connection");
                            }
                            closed = Some(Closed::FramingError);
                            break;
                        }
                        if n < self.buf.len() {
                            // The kernel had no more for now.
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        debug!(source = %self.source, peer = %conn.peer.text, error = %e, "connection failed");
                        closed = Some(Closed::Error);
                        break;
                    }
                }
            }
        }
        self.stats.tcp_local += passed;
        // Bytes as read, framing included.
        counts.bytes += bytes;
        if let Some(why) = closed {
            self.close(i, why);
        }
    }

    /// Accepts the connections waiting, refusing those beyond the limit.
    fn accept(&mut self, sink: &mut Sink, now: Instant) {
        let Some(tcp) = &mut self.tcp else { return };
        for _ in 0..ACCEPTS {
            match tcp.listener.accept() {
                Ok((stream, addr)) => {
                    if self.conns.len() >= self.spec.max_connections {
                        self.stats.refused.increment(1);
                        if let Some(left_out) = tcp.refusals.allow(now) {
                            warn!(source = %self.source, peer = %addr, max_connections = self.spec.max_connections, left_out, "refusing a syslog connection: max_connections are open");
                        }
                        drop(stream);
                        continue;
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        debug!(source = %self.source, peer = %addr, error = %e, "cannot use an accepted connection");
                        continue;
                    }
                    if let Err(e) = net::keepalive(&stream, KEEPALIVE_IDLE) {
                        debug!(source = %self.source, peer = %addr, error = %e, "cannot turn keepalive on");
                    }
                    let peer = Peer::new(addr);
                    debug!(source = %self.source, peer = %peer.text, "syslog connection accepted");
                    self.conns.push(Conn {
                        stream,
                        peer,
                        decoder: Decoder::new(self.spec.framing, self.max_line + 1),
                        last_read: now,
                    });
                    self.stats.accepted.increment(1);
                    self.stats.connections.set(self.conns.len() as f64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of file descriptors or memory: the connection
                    // stays in the backlog; try again a little later
                    // rather than spin on it.
                    sink.read_error();
                    tcp.paused_until = Some(now + ACCEPT_PAUSE);
                    if let Some(left_out) = tcp.accept_errors.allow(now) {
                        warn!(source = %self.source, error = %e, left_out, "cannot accept a syslog connection; pausing");
                    }
                    break;
                }
            }
        }
    }

    /// Closes connection `i`; a message it had begun is dropped and counted
    /// (its end was read and passed on already when the peer closed it).
    fn close(&mut self, i: usize, why: Closed) {
        let mut conn = self.conns.swap_remove(i);
        if conn.decoder.abandon() {
            self.stats.incomplete.increment(1);
            debug!(source = %self.source, peer = %conn.peer.text, reason = why.label(), "a message begun on a closed connection was dropped");
        }
        if why == Closed::IdleTimeout {
            debug!(source = %self.source, peer = %conn.peer.text, "closing an idle syslog connection");
        }
        self.stats.closed(why).increment(1);
        self.stats.connections.set(self.conns.len() as f64);
    }

    /// Adds the datagrams the kernel dropped since the last look.
    fn count_drops(&mut self, now: Instant) {
        let Some(udp) = &mut self.udp else { return };
        let (Some(last), Some(seen)) = (udp.drops, net::dropped(&udp.socket)) else {
            return;
        };
        let new = seen.wrapping_sub(last);
        if new > 0 {
            udp.drops = Some(seen);
            self.stats.udp_dropped.increment(u64::from(new));
            if let Some(left_out) = udp.drop_warnings.allow(now) {
                warn!(source = %self.source, dropped = new, warnings_left_out = left_out, "the UDP receive buffer was full: the kernel dropped datagrams (raise receive_buffer_bytes, or send over TCP)");
            }
        }
    }

    /// Reads what the kernel already holds, then closes every socket.
    fn shut_down(&mut self, sink: &mut Sink) {
        let now = Instant::now();
        {
            let batch = sink.batch();
            let mut counts = FrameCounts::default();
            self.read_udp(sink, &mut counts, usize::MAX);
            for i in (0..self.conns.len()).rev() {
                self.read_conn(i, sink, &mut counts, now, STOP_DRAIN / READ_BUF);
            }
            sink.count(counts);
            sink.commit(&batch, |_| {});
        }
        for i in (0..self.conns.len()).rev() {
            self.close(i, Closed::Stopped);
        }
        // The network cannot be read again: open records are complete.
        self.end_records(sink, true);
        self.count_drops(now);
        self.stats.flush();
        if self.udp.take().is_some() {
            self.stats.udp_listening.set(0.0);
        }
        if self.tcp.take().is_some() {
            self.stats.tcp_listening.set(0.0);
        }
        info!(source = %self.source, "syslog source stopped");
    }
}

/// A non-blocking listener on `address`.
fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_fields_name_the_sender() {
        let peer = Peer::new("[::ffff:192.0.2.7]:40100".parse().unwrap());
        let c = Context {
            peer: &peer,
            transport: "tcp",
        };
        assert_eq!(c.get("_syslog.peer"), Some("192.0.2.7:40100"));
        assert_eq!(c.get("_syslog.peer_ip"), Some("192.0.2.7"));
        assert_eq!(c.get("_syslog.transport"), Some("tcp"));
        assert_eq!(c.get("_syslog.other"), None);
        assert_eq!(c.get("peer"), None);
        let v6 = Peer::new("[2001:db8::1]:514".parse().unwrap());
        assert_eq!(v6.text, "[2001:db8::1]:514");
        assert_eq!(v6.ip, "2001:db8::1");
    }

    #[test]
    fn bind_errors_name_the_address_and_what_to_do() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let spec = SyslogSpec {
            udp: Some(taken.local_addr().unwrap()),
            tcp: None,
            framing: crate::source::spec::SyslogFraming::Auto,
            max_connections: 1,
            receive_buffer_bytes: None,
            idle_timeout: None,
        };
        let e = check_bind(&spec).unwrap_err();
        let addr = taken.local_addr().unwrap();
        assert!(
            e.starts_with(&format!("cannot listen for syslog on udp {addr}: ")),
            "{e}"
        );
        assert!(e.contains("another process listens there"), "{e}");
    }

    #[test]
    fn each_senders_process_has_its_own_open_record() {
        use crate::agent::Agent;
        use crate::config::load_str;
        use crate::metrics::expose::render_text;
        let config = r#"
[[sources]]
name = "net"
type = "syslog"
tcp = "127.0.0.1:5514"
multiline = { continue = '^\s+at ', timeout = "1h" }

[[pipelines]]
name = "p"
parser = "syslog"

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { program = "{program}", pid = "{pid}", lines = "{record.lines}", peer = "{_syslog.peer}" }
when = [{ field = "record.lines", present = true }]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { program = "{program}", pid = "{pid}" }
when = [{ field = "record.lines", present = false }]
"#;
        let agent = Agent::build(load_str(config, std::path::Path::new("t.toml")).unwrap());
        let spec = &agent.config.sources[0];
        let mut d = Dispatcher::for_source(spec, &agent.pipelines);
        let mut g = Grouping::new(spec.multiline.as_ref().unwrap(), "net");
        let a = Peer::new("127.0.0.1:40001".parse().unwrap());
        let b = Peer::new("127.0.0.1:40002".parse().unwrap());
        let now = Instant::now();
        for (peer, line) in [
            (
                &a,
                "<14>Dec  7 10:00:00 web shop[42]: java.lang.IllegalStateException: boom",
            ),
            (&b, "<14>Dec  7 10:00:00 web cron[7]: tick"),
            (
                &a,
                "<14>Dec  7 10:00:00 web shop[42]:     at a.B.c(B.java:1)",
            ),
            // Another process of the same app: no record of its own open.
            (
                &a,
                "<14>Dec  7 10:00:00 web shop[43]:     at x.Y.z(Y.java:9)",
            ),
            // The same process over another connection.
            (
                &b,
                "<14>1 2026-12-07T10:00:01Z web shop 42 - -     at a.B.d(B.java:2)",
            ),
            (&a, "<14>Dec  7 10:00:01 web shop[42]: done"),
            // An octet-counted message holding a whole trace: its lines.
            (
                &b,
                "<11>Dec  7 10:00:02 web shop[44]: java.lang.Error: x\n    at a.B.c(B.java:1)\n    at a.B.d(B.java:2)",
            ),
        ] {
            let ctx = Context {
                peer,
                transport: "tcp",
            };
            g.take(&mut d, line, &ctx, now);
        }
        assert_eq!(
            g.keyed.len(),
            3,
            "cron's tick, shop's done and 44's trace may go on"
        );
        g.keyed
            .finish(Why::End, &mut |p, c| records::deliver_in(&mut d, p, c));
        d.flush(FrameCounts::default());
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        let mut got: Vec<&str> = m
            .lines()
            .filter(|l| l.starts_with("records_total{") || l.starts_with("lines_total{"))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                r#"lines_total{pid="42",program="shop"} 1"#,
                r#"lines_total{pid="43",program="shop"} 1"#,
                r#"lines_total{pid="7",program="cron"} 1"#,
                // With the fields of the message that opened it.
                r#"records_total{lines="3",peer="127.0.0.1:40001",pid="42",program="shop"} 1"#,
                r#"records_total{lines="3",peer="127.0.0.1:40002",pid="44",program="shop"} 1"#,
            ]
        );
    }

    #[test]
    fn the_limiter_lets_one_warning_through_per_period() {
        let mut l = Limiter::default();
        let t = Instant::now();
        assert_eq!(l.allow(t), Some(0));
        assert_eq!(l.allow(t + Duration::from_secs(1)), None);
        assert_eq!(l.allow(t + Duration::from_secs(2)), None);
        assert_eq!(l.allow(t + WARN_EVERY), Some(2));
    }
}
