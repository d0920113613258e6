//! Which [`Source`] runs each kind of `[[sources]]` entry: one line per kind.

use super::contract::Source;
use super::spec::{SourceKind, SourceSpec};
use super::{file, journald, kafka, kubernetes, stdin, syslog};

/// The source that reads what `spec` configures.
pub fn build(spec: &SourceSpec) -> Box<dyn Source> {
    match &spec.kind {
        SourceKind::File(f) => {
            Box::new(file::FileSource::new(&spec.name, f, spec.multiline.clone()))
        }
        SourceKind::Stdin => Box::new(stdin::StdinSource::new(spec.multiline.clone())),
        SourceKind::Kafka(k) => {
            Box::new(kafka::KafkaSource::new(&spec.name, k).with_multiline(spec.multiline.clone()))
        }
        SourceKind::Journald(j) => Box::new(
            journald::JournaldSource::new(&spec.name, j).with_multiline(spec.multiline.clone()),
        ),
        SourceKind::Syslog(s) => {
            Box::new(syslog::SyslogSource::new(s).with_multiline(spec.multiline.clone()))
        }
        SourceKind::Kubernetes(k) => Box::new(kubernetes::KubernetesSource::new(
            &spec.name,
            k,
            spec.multiline.clone(),
        )),
    }
}
