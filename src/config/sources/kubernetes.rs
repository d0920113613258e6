//! `type = "kubernetes"`: the container logs under `/var/log/pods`.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::file::{format, max_open_files, start_at};
use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::config::names::{decode, duration};
use crate::source::spec::{KubernetesSpec, LineFormat, PathLabel, SourceKind};

/// Where kubelet keeps pod logs.
pub const DEFAULT_PODS_DIR: &str = "/var/log/pods";

/// The labels taken from paths unless `labels_from_path` says otherwise:
/// not the pod (its name changes with every rollout and restart of a
/// Deployment's pods, and every pod would keep series of its own).
pub const DEFAULT_PATH_LABELS: [PathLabel; 2] = [PathLabel::Namespace, PathLabel::Container];

/// The container logs of a node.
pub(super) const KIND: Kind = Kind {
    name: "kubernetes",
    keys: &[
        "pods_dir",
        "namespaces",
        "exclude_namespaces",
        "pods",
        "exclude_pods",
        "containers",
        "exclude_containers",
        "labels_from_path",
        "format",
        "start_at",
        "poll_interval",
        "idle_flush",
        "max_open_files",
    ],
    check,
};

/// The keys of a kubernetes source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesConfig {
    pods_dir: Option<Spanned<String>>,
    #[serde(default)]
    namespaces: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_namespaces: Vec<Spanned<String>>,
    #[serde(default)]
    pods: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_pods: Vec<Spanned<String>>,
    #[serde(default)]
    containers: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_containers: Vec<Spanned<String>>,
    labels_from_path: Option<Vec<Spanned<String>>>,
    format: Option<Spanned<String>>,
    start_at: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    idle_flush: Option<Spanned<String>>,
    max_open_files: Option<Spanned<i64>>,
}

fn check(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>, _kind: Range<usize>) -> SourceKind {
    let raw = decode::<KubernetesConfig>(r, entry).unwrap_or_default();
    let mut globs = |list: &[Spanned<String>]| -> Vec<String> {
        for g in list {
            if let Err(e) = globset::Glob::new(g.get_ref()) {
                r.at(g.span(), format!("invalid glob `{}`: {e}", g.get_ref()));
            }
        }
        list.iter().map(|g| g.get_ref().clone()).collect()
    };
    let namespaces = globs(&raw.namespaces);
    let exclude_namespaces = globs(&raw.exclude_namespaces);
    let pods = globs(&raw.pods);
    let exclude_pods = globs(&raw.exclude_pods);
    let containers = globs(&raw.containers);
    let exclude_containers = globs(&raw.exclude_containers);
    let pods_dir = match &raw.pods_dir {
        Some(d) if d.get_ref().is_empty() => {
            r.at(
                d.span(),
                "pods_dir is empty: use the directory kubelet keeps pod logs in (/var/log/pods)",
            );
            PathBuf::from(DEFAULT_PODS_DIR)
        }
        Some(d) => PathBuf::from(d.get_ref()),
        None => PathBuf::from(DEFAULT_PODS_DIR),
    };
    let labels_from_path = match &raw.labels_from_path {
        None => DEFAULT_PATH_LABELS.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for l in list {
                match PathLabel::ALL.iter().find(|p| p.name() == l.get_ref()) {
                    Some(p) if out.contains(p) => {
                        r.at(l.span(), format!("`{}` is listed twice", l.get_ref()));
                    }
                    Some(p) => out.push(*p),
                    None => {
                        let names: Vec<String> = PathLabel::ALL
                            .iter()
                            .map(|p| format!("\"{}\"", p.name()))
                            .collect();
                        r.at(
                            l.span(),
                            format!(
                                "`{}` is not a label taken from paths: use {}",
                                l.get_ref(),
                                names.join(", ")
                            ),
                        );
                    }
                }
            }
            out
        }
    };
    SourceKind::Kubernetes(KubernetesSpec {
        pods_dir,
        namespaces,
        exclude_namespaces,
        pods,
        exclude_pods,
        containers,
        exclude_containers,
        labels_from_path,
        format: format(r, raw.format.as_ref(), LineFormat::Auto, false),
        start_at: start_at(r, raw.start_at.as_ref()),
        // Writes and new pods wake the source through filesystem events;
        // the scan is the safety net, and a node holds thousands of files.
        poll_interval: duration(r, raw.poll_interval.as_ref(), Duration::from_secs(1)),
        idle_flush: duration(r, raw.idle_flush.as_ref(), Duration::from_secs(5)),
        max_open_files: max_open_files(r, raw.max_open_files.as_ref(), 4096),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::load_str;
    use crate::source::spec::{KubernetesSpec, LineFormat, PathLabel, SourceKind, StartAt};

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"json\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\nlabels = { level = \"{level}\" }\n";

    fn load(source: &str) -> Result<KubernetesSpec, String> {
        let src = format!("[[sources]]\nname = \"k\"\ntype = \"kubernetes\"\n{source}\n{PIPELINE}");
        let c = load_str(&src, Path::new("t.toml")).map_err(|e| e.to_string())?;
        match &c.sources[0].kind {
            SourceKind::Kubernetes(k) => Ok(k.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let k = load("").unwrap();
        assert_eq!(
            k,
            KubernetesSpec {
                pods_dir: "/var/log/pods".into(),
                namespaces: vec![],
                exclude_namespaces: vec![],
                pods: vec![],
                exclude_pods: vec![],
                containers: vec![],
                exclude_containers: vec![],
                labels_from_path: vec![PathLabel::Namespace, PathLabel::Container],
                format: LineFormat::Auto,
                start_at: StartAt::End,
                poll_interval: Duration::from_secs(1),
                idle_flush: Duration::from_secs(5),
                max_open_files: 4096,
            }
        );
    }

    #[test]
    fn every_key() {
        let k = load(
            r#"pods_dir = "/data/pods"
namespaces = ["shop-*"]
exclude_namespaces = ["kube-*"]
pods = ["web-*"]
exclude_pods = ["web-debug-*"]
containers = ["app"]
exclude_containers = ["istio-proxy"]
labels_from_path = ["namespace", "pod", "container", "pod_template_hash"]
format = "cri"
start_at = "beginning"
poll_interval = "1s"
idle_flush = "2s"
max_open_files = 4096"#,
        )
        .unwrap();
        assert_eq!(k.pods_dir, Path::new("/data/pods"));
        assert_eq!(k.exclude_containers, vec!["istio-proxy".to_string()]);
        assert_eq!(k.labels_from_path, PathLabel::ALL.to_vec());
        assert_eq!(k.format, LineFormat::Cri);
        assert_eq!(k.start_at, StartAt::Beginning);
        assert_eq!(k.max_open_files, 4096);
    }

    #[test]
    fn mistakes_are_named_at_their_place() {
        let e = load(r#"labels_from_path = ["namespace", "node", "namespace"]"#).unwrap_err();
        assert!(
            e.contains("t.toml:4:34: sources[0].labels_from_path[1]: `node` is not a label taken from paths: use \"namespace\", \"pod\", \"container\", \"pod_template_hash\""),
            "{e}"
        );
        assert!(e.contains("`namespace` is listed twice"), "{e}");
        let e = load(r#"format = "plain""#).unwrap_err();
        assert!(
            e.contains("`plain` is not a line format: use \"cri\", \"docker\", \"auto\""),
            "{e}"
        );
        let e = load(r#"namespaces = ["a[b"]"#).unwrap_err();
        assert!(e.contains("invalid glob `a[b`"), "{e}");
        let e = load(r#"include = ["/x"]"#).unwrap_err();
        assert!(
            e.contains("`include` applies to file sources only, not to kubernetes"),
            "{e}"
        );
        // A path label that is also a static label or a rule's.
        let e = load("labels = { namespace = \"x\" }").unwrap_err();
        assert!(
            e.contains("label `namespace` is also taken from paths (labels_from_path)"),
            "{e}"
        );
        let e = load(r#"labels_from_path = ["level"]"#).unwrap_err();
        assert!(e.contains("`level` is not a label taken from paths"), "{e}");
        let src = format!(
            "[[sources]]\nname = \"k\"\ntype = \"kubernetes\"\n{}",
            PIPELINE.replace("level = ", "container = ")
        );
        let e = load_str(&src, Path::new("t.toml")).unwrap_err().to_string();
        assert!(
            e.contains("label `container` comes both from source `k` and from this rule"),
            "{e}"
        );
    }
}
