//! `kubernetes` sources: the container logs kubelet keeps on each node, in
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restarts>.log`.
//!
//! Files only: no API server, no credentials, no RBAC. What the metrics are
//! labelled with comes from the paths ([`path`]): namespace, pod,
//! container, and the pod template hash of ReplicaSet pods. The files are
//! followed by the file source's tailer ([`FileTailer`]) with a
//! [`Layout`] that selects them by namespace, pod and container globs and
//! gives each its label set and fields, and with the container formats
//! (CRI, Docker `json-file`) unwrapped and partial lines joined
//! ([`crate::source::file::container`]).
//!
//! Kubelet rotates `0.log` by renaming it `0.log.<timestamp>` and having
//! the runtime reopen `0.log`; the renamed file is read to its end, then
//! compressed later (`.gz`), which is never read. A pod's directory
//! appears when it starts and is removed when it is deleted: new files are
//! read from their start, deleted ones to their end, then released with
//! their label set. `/var/log/containers` (symbolic links to the same
//! files) is not read.

pub mod path;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use tracing::debug;

use super::contract::{Control, Sink, Source};
use super::file::container::{Layout, PathFields};
use super::file::{restored_files, FileTailer};
use super::spec::{FileSpec, KubernetesSpec, MultilineSpec, PathLabel, StartAt};
use crate::pipeline::record::ContextFields;
use path::PodPath;

/// The prefix of the context fields a `kubernetes` source gives rules.
pub const FIELD_PREFIX: &str = "_kubernetes.";

/// A `kubernetes` source.
pub struct KubernetesSource {
    name: String,
    spec: KubernetesSpec,
    multiline: Option<MultilineSpec>,
}

impl KubernetesSource {
    /// The source called `name`, the lines of each container stream
    /// grouped into records as `multiline` says, if it does.
    pub fn new(name: &str, spec: &KubernetesSpec, multiline: Option<MultilineSpec>) -> Self {
        Self {
            name: name.to_string(),
            spec: spec.clone(),
            multiline,
        }
    }

    /// The tailer that follows the files of `spec`, resuming from
    /// `restored`.
    pub fn tailer(
        name: &str,
        spec: &KubernetesSpec,
        max_line: usize,
        restored: Option<Vec<crate::state::checkpoint::FilePosition>>,
    ) -> FileTailer {
        FileTailer::new(name, &file_spec(spec), max_line, restored)
            .with_layout(Arc::new(Pods::new(spec)))
    }
}

impl KubernetesSource {
    /// The tailer that reads the one file `path` as a file of `spec`, with
    /// labels from its path when it has kubelet's layout (for `once`).
    pub fn file_tailer(
        name: &str,
        spec: &KubernetesSpec,
        max_line: usize,
        path: &Path,
    ) -> FileTailer {
        let mut one = spec.clone();
        one.pods_dir = path
            .ancestors()
            .nth(3)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut files = file_spec(&one);
        files.include = vec![glob::Pattern::escape(&path.to_string_lossy())];
        files.start_at = StartAt::Beginning;
        FileTailer::new(name, &files, max_line, None)
            .with_layout(Arc::new(AnyFile(Pods::new(&one))))
    }
}

/// A file read because it was named: followed whatever its path, labelled
/// from its path if it has kubelet's layout.
struct AnyFile(Pods);

impl Layout for AnyFile {
    fn selects(&self, _: &Path) -> bool {
        true
    }

    fn describe(&self, path: &Path) -> (Vec<(String, String)>, Option<PathFields>) {
        self.0.describe(path)
    }
}

impl Source for KubernetesSource {
    fn run(self: Box<Self>, sink: Sink, control: Control) {
        let restored = restored_files(&control);
        Self::tailer(&self.name, &self.spec, sink.max_line(), restored)
            .with_records(self.multiline.as_ref(), control.restored())
            .serve(sink, control);
    }
}

/// What the file source follows for `spec`: every `*.log` two levels below
/// `pods_dir` (the current file of each container, and its restarts'),
/// not the rotated ones (`0.log.<timestamp>`, `.gz`) but through renames.
pub fn file_spec(spec: &KubernetesSpec) -> FileSpec {
    let dir = glob::Pattern::escape(&spec.pods_dir.to_string_lossy());
    let dir = dir.trim_end_matches('/');
    FileSpec {
        include: vec![format!("{dir}/*/*/*.log")],
        exclude: Vec::new(),
        start_at: spec.start_at,
        poll_interval: spec.poll_interval,
        idle_flush: spec.idle_flush,
        max_open_files: spec.max_open_files,
        format: spec.format,
    }
}

/// Include and exclude globs over one part of the path.
struct Select {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Select {
    fn new(include: &[String], exclude: &[String]) -> Self {
        Self {
            include: set(include),
            exclude: set(exclude),
        }
    }

    fn admits(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(name))
            && !self.exclude.as_ref().is_some_and(|s| s.is_match(name))
    }
}

/// A set of globs (already checked by the configuration); `None` when
/// there are none.
fn set(globs: &[String]) -> Option<GlobSet> {
    if globs.is_empty() {
        return None;
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        if let Ok(g) = Glob::new(g) {
            b.add(g);
        }
    }
    b.build().ok()
}

/// The layout of `pods_dir`, with the namespaces, pods and containers to
/// read.
pub struct Pods {
    dir: PathBuf,
    namespaces: Select,
    pods: Select,
    containers: Select,
    labels: Vec<PathLabel>,
}

impl Pods {
    /// The layout `spec` reads.
    pub fn new(spec: &KubernetesSpec) -> Self {
        Self {
            dir: spec.pods_dir.clone(),
            namespaces: Select::new(&spec.namespaces, &spec.exclude_namespaces),
            pods: Select::new(&spec.pods, &spec.exclude_pods),
            containers: Select::new(&spec.containers, &spec.exclude_containers),
            labels: spec.labels_from_path.clone(),
        }
    }
}

impl Layout for Pods {
    fn selects(&self, path: &Path) -> bool {
        match PodPath::parse(&self.dir, path) {
            Some(p) => {
                self.namespaces.admits(p.namespace)
                    && self.pods.admits(p.pod)
                    && self.containers.admits(p.container)
            }
            None => {
                debug!(path = %path.display(), "not in kubelet's layout (<namespace>_<pod>_<uid>/<container>/<n>.log): not read");
                false
            }
        }
    }

    fn describe(&self, path: &Path) -> (Vec<(String, String)>, Option<PathFields>) {
        let Some(p) = PodPath::parse(&self.dir, path) else {
            return (Vec::new(), None);
        };
        let hash = p.pod_template_hash();
        let labels = self
            .labels
            .iter()
            .filter_map(|l| {
                let v = match l {
                    PathLabel::Namespace => p.namespace,
                    PathLabel::Pod => p.pod,
                    PathLabel::Container => p.container,
                    PathLabel::PodTemplateHash => hash?,
                };
                Some((l.name().to_string(), v.to_string()))
            })
            .collect();
        let fields = PodFields {
            namespace: p.namespace.into(),
            pod: p.pod.into(),
            pod_uid: p.uid.into(),
            container: p.container.into(),
            pod_template_hash: hash.map(Into::into),
        };
        (labels, Some(Arc::new(fields)))
    }
}

/// The context fields of a Kubernetes log file's lines (see
/// [`FIELD_PREFIX`]).
#[derive(Debug)]
pub struct PodFields {
    namespace: Box<str>,
    pod: Box<str>,
    pod_uid: Box<str>,
    container: Box<str>,
    pod_template_hash: Option<Box<str>>,
}

impl ContextFields for PodFields {
    fn get(&self, name: &str) -> Option<&str> {
        match name.strip_prefix(FIELD_PREFIX)? {
            "namespace" => Some(&self.namespace),
            "pod" => Some(&self.pod),
            "pod_uid" => Some(&self.pod_uid),
            "container" => Some(&self.container),
            "pod_template_hash" => self.pod_template_hash.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::source::spec::{LineFormat, StartAt};

    fn spec() -> KubernetesSpec {
        KubernetesSpec {
            pods_dir: "/var/log/pods".into(),
            namespaces: Vec::new(),
            exclude_namespaces: vec!["kube-*".into()],
            pods: Vec::new(),
            exclude_pods: vec!["debug-*".into()],
            containers: vec!["app".into(), "side*".into()],
            exclude_containers: vec!["sidecar-proxy".into()],
            labels_from_path: PathLabel::ALL.to_vec(),
            format: LineFormat::Auto,
            start_at: StartAt::Beginning,
            poll_interval: Duration::from_millis(250),
            idle_flush: Duration::from_secs(5),
            max_open_files: 1024,
        }
    }

    #[test]
    fn selects_by_namespace_pod_and_container() {
        let pods = Pods::new(&spec());
        let sel = |p: &str| pods.selects(Path::new(p));
        assert!(sel("/var/log/pods/shop_web-0_u/app/0.log"));
        assert!(sel("/var/log/pods/shop_web-0_u/sidekick/0.log"));
        assert!(!sel("/var/log/pods/shop_web-0_u/sidecar-proxy/0.log"));
        assert!(!sel("/var/log/pods/shop_web-0_u/db/0.log"));
        assert!(!sel("/var/log/pods/kube-system_web-0_u/app/0.log"));
        assert!(!sel("/var/log/pods/shop_debug-x_u/app/0.log"));
        assert!(!sel("/var/log/pods/shop_web-0/app/0.log"));
    }

    #[test]
    fn labels_and_fields_from_the_path() {
        let mut s = spec();
        let pods = Pods::new(&s);
        let (labels, fields) = pods.describe(Path::new(
            "/var/log/pods/shop_web-66b6c48dd5-4jw2p_u1/app/0.log",
        ));
        let want = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            labels,
            want(&[
                ("namespace", "shop"),
                ("pod", "web-66b6c48dd5-4jw2p"),
                ("container", "app"),
                ("pod_template_hash", "66b6c48dd5"),
            ])
        );
        let f = fields.unwrap();
        assert_eq!(f.get("_kubernetes.pod_uid"), Some("u1"));
        assert_eq!(f.get("_kubernetes.namespace"), Some("shop"));
        assert_eq!(f.get("_kubernetes.pod_template_hash"), Some("66b6c48dd5"));
        assert_eq!(f.get("_kubernetes.other"), None);
        assert_eq!(f.get("namespace"), None);
        // No hash: no such label, no such field.
        let (labels, fields) = pods.describe(Path::new("/var/log/pods/shop_db-0_u2/app/0.log"));
        assert_eq!(labels.len(), 3);
        assert_eq!(fields.unwrap().get("_kubernetes.pod_template_hash"), None);
        // Only the labels asked for.
        s.labels_from_path = vec![PathLabel::Namespace, PathLabel::Container];
        let (labels, _) = Pods::new(&s).describe(Path::new("/var/log/pods/shop_db-0_u2/app/0.log"));
        assert_eq!(labels, want(&[("namespace", "shop"), ("container", "app")]));
    }

    #[test]
    fn follows_the_log_files_of_the_pods_directory() {
        let mut s = spec();
        s.pods_dir = "/data/pods [x]/".into();
        let f = file_spec(&s);
        assert_eq!(f.include, vec!["/data/pods [[]x[]]/*/*/*.log".to_string()]);
        assert_eq!(f.format, LineFormat::Auto);
    }
}
