//! Checks of `type = "syslog"` sources: the UDP and TCP addresses to
//! listen on, TCP framing and limits, the UDP receive buffer.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::config::names::decode;
use crate::source::spec::{SourceKind, SyslogFraming, SyslogSpec};

/// Default bound on open TCP connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Largest `max_connections` accepted.
const MAX_CONNECTIONS: i64 = 65_536;

/// Syslog over the network.
pub(super) const KIND: Kind = Kind {
    name: "syslog",
    keys: &[
        "udp",
        "tcp",
        "framing",
        "max_connections",
        "receive_buffer_bytes",
        "idle_timeout",
    ],
    check,
};

/// The keys of a syslog source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogConfig {
    /// `IP:PORT` to receive datagrams on.
    udp: Option<Spanned<String>>,
    /// `IP:PORT` to accept connections on.
    tcp: Option<Spanned<String>>,
    /// `auto`, `newline` or `octet_counting`.
    framing: Option<Spanned<String>>,
    /// Most TCP connections open at once.
    max_connections: Option<Spanned<i64>>,
    /// The UDP socket's receive buffer, in bytes.
    receive_buffer_bytes: Option<Spanned<i64>>,
    /// How long a silent TCP connection stays open, e.g. `5m`; `0s`: for ever.
    idle_timeout: Option<Spanned<String>>,
}

fn check(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>, kind: Range<usize>) -> SourceKind {
    let raw = decode::<SyslogConfig>(r, entry).unwrap_or_default();
    SourceKind::Syslog(check_syslog(r, &raw, kind))
}

/// An address to listen on, or an error saying what is expected.
fn address(r: &mut Reporter<'_>, v: &Spanned<String>, key: &str) -> Option<SocketAddr> {
    match v.get_ref().trim().parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 => Some(a),
        Ok(_) => {
            r.at(
                v.span(),
                format!("`{key}` needs a port other than 0 (senders must know where to send)"),
            );
            None
        }
        Err(_) => {
            r.at(
                v.span(),
                format!(
                    "`{}` is not an address to listen on: give IP:PORT such as \"0.0.0.0:514\", \"127.0.0.1:5514\" or \"[::]:514\"",
                    v.get_ref()
                ),
            );
            None
        }
    }
}

/// Checks the syslog keys of `raw`, reporting every problem.
fn check_syslog(r: &mut Reporter<'_>, raw: &SyslogConfig, kind: Range<usize>) -> SyslogSpec {
    let udp = raw.udp.as_ref().and_then(|v| address(r, v, "udp"));
    let tcp = raw.tcp.as_ref().and_then(|v| address(r, v, "tcp"));
    if raw.udp.is_none() && raw.tcp.is_none() {
        r.at(
            kind,
            "a syslog source needs `udp`, `tcp` or both: e.g. udp = \"0.0.0.0:514\"",
        );
    }
    // Keys of one transport without that transport are mistakes, not
    // settings to ignore.
    let tcp_only = |r: &mut Reporter<'_>, span: Range<usize>, key: &str| {
        if raw.tcp.is_none() {
            r.at(
                span,
                format!("`{key}` applies to TCP connections: set `tcp` too, or remove it"),
            );
        }
    };
    let framing = match raw.framing.as_ref() {
        None => SyslogFraming::Auto,
        Some(f) => {
            tcp_only(r, f.span(), "framing");
            match f.get_ref().as_str() {
                "auto" => SyslogFraming::Auto,
                "newline" => SyslogFraming::Newline,
                "octet_counting" => SyslogFraming::OctetCounting,
                other => {
                    r.at(
                        f.span(),
                        format!("unknown framing `{other}`: use \"auto\" (octet-counted or newline, message by message), \"newline\" or \"octet_counting\""),
                    );
                    SyslogFraming::Auto
                }
            }
        }
    };
    let max_connections = match raw.max_connections.as_ref() {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(m) => {
            tcp_only(r, m.span(), "max_connections");
            if (1..=MAX_CONNECTIONS).contains(m.get_ref()) {
                *m.get_ref() as usize
            } else {
                r.at(
                    m.span(),
                    format!("max_connections must be between 1 and {MAX_CONNECTIONS}"),
                );
                DEFAULT_MAX_CONNECTIONS
            }
        }
    };
    let receive_buffer_bytes = raw.receive_buffer_bytes.as_ref().and_then(|b| {
        if raw.udp.is_none() {
            r.at(
                b.span(),
                "`receive_buffer_bytes` applies to the UDP socket: set `udp` too, or remove it",
            );
        }
        if (1..=i64::from(i32::MAX)).contains(b.get_ref()) {
            Some(*b.get_ref() as usize)
        } else {
            r.at(
                b.span(),
                "receive_buffer_bytes must be between 1 and 2147483647",
            );
            None
        }
    });
    let idle_timeout = raw.idle_timeout.as_ref().and_then(|t| {
        tcp_only(r, t.span(), "idle_timeout");
        match crate::duration::parse_duration(t.get_ref()) {
            Some(d) if d.is_zero() => None,
            Some(d) if d >= Duration::from_millis(10) => Some(d),
            _ => {
                r.at(
                    t.span(),
                    format!(
                        "`{}` is not a duration such as \"2m\" or \"30s\" (at least 10ms; \"0s\": never close a silent connection)",
                        t.get_ref()
                    ),
                );
                None
            }
        }
    });
    SyslogSpec {
        udp,
        tcp,
        framing,
        max_connections,
        receive_buffer_bytes,
        idle_timeout,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load_str;

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"syslog\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n";

    fn load(source: &str) -> Result<SyslogSpec, String> {
        let src = format!("[[sources]]\nname = \"net\"\ntype = \"syslog\"\n{source}\n{PIPELINE}");
        match load_str(&src, Path::new("t.toml")) {
            Ok(c) => match &c.sources[0].kind {
                SourceKind::Syslog(s) => Ok(s.clone()),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn a_full_syslog_source_loads_and_defaults_apply() {
        let s = load(
            r#"udp = "127.0.0.1:5514"
tcp = "[::]:5514"
framing = "octet_counting"
max_connections = 10
receive_buffer_bytes = 4194304
idle_timeout = "2m""#,
        )
        .unwrap();
        assert_eq!(s.udp, Some("127.0.0.1:5514".parse().unwrap()));
        assert_eq!(s.tcp, Some("[::]:5514".parse().unwrap()));
        assert_eq!(s.framing, SyslogFraming::OctetCounting);
        assert_eq!(s.max_connections, 10);
        assert_eq!(s.receive_buffer_bytes, Some(4 << 20));
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(120)));
        let s = load("tcp = \"0.0.0.0:601\"\nidle_timeout = \"0s\"").unwrap();
        assert_eq!(s.udp, None);
        assert_eq!(s.framing, SyslogFraming::Auto);
        assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(s.idle_timeout, None);
    }

    #[test]
    fn syslog_mistakes_are_all_reported_at_their_line() {
        let e = load("").unwrap_err();
        assert!(
            e.contains("t.toml:3:8: sources[0].type: a syslog source needs `udp`, `tcp` or both"),
            "{e}"
        );
        let e = load(
            r#"udp = "localhost:514"
framing = "lines"
max_connections = 0
receive_buffer_bytes = -1
idle_timeout = "soon""#,
        )
        .unwrap_err();
        for needle in [
            "t.toml:4:7: sources[0].udp: `localhost:514` is not an address to listen on",
            "`framing` applies to TCP connections: set `tcp` too",
            "unknown framing `lines`",
            "`max_connections` applies to TCP connections",
            "max_connections must be between 1 and 65536",
            "receive_buffer_bytes must be between 1 and 2147483647",
            "`soon` is not a duration",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let e = load("tcp = \"127.0.0.1:0\"\nreceive_buffer_bytes = 1024").unwrap_err();
        assert!(e.contains("`tcp` needs a port other than 0"), "{e}");
        assert!(
            e.contains("`receive_buffer_bytes` applies to the UDP socket"),
            "{e}"
        );
    }

    #[test]
    fn syslog_keys_are_refused_elsewhere() {
        let src = format!("[[sources]]\nname = \"f\"\ntype = \"file\"\ninclude = [\"/x\"]\nudp = \"0.0.0.0:514\"\n{PIPELINE}");
        let e = load_str(&src, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains("`udp` applies to syslog sources only"), "{e}");
    }
}
