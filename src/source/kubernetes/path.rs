//! What the path of a log file says about its container:
//! `<pods_dir>/<namespace>_<pod>_<uid>/<container>/<restarts>.log`.
//!
//! Namespaces and pod names are DNS names (no `_`), so the pod directory
//! splits on `_` in exactly three parts. A pod made by a ReplicaSet (of a
//! Deployment or an Argo Rollout) is named `<name>-<hash>-<suffix>`, where
//! `<hash>` is the pod template hash: the decimal FNV-32a hash of the
//! template, each digit mapped through Kubernetes' `SafeEncodeString`
//! alphabet, which takes the ASCII digits `0`-`9` to `4`-`9`, `b`, `c`,
//! `d`, `f` (so a hash is 1 to 10 of those characters, nearly always 8 to
//! 10), and `<suffix>` is 5 characters of the whole alphabet
//! (`bcdfghjklmnpqrstvwxz2456789`). StatefulSet pods (`<name>-0`),
//! DaemonSet and Job pods (`<name>-<suffix>`) have no hash; a CronJob's
//! pods (`<name>-<minutes since the epoch>-<suffix>`) neither: that number
//! has digits outside the hash alphabet.

use std::path::{Component, Path};

/// The pod and container a log file belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPath<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's name.
    pub pod: &'a str,
    /// The pod's UID (or a static pod's configuration hash).
    pub uid: &'a str,
    /// The container's name.
    pub container: &'a str,
}

impl<'a> PodPath<'a> {
    /// The pod and container of the file at `path` under `pods_dir`, if the
    /// path has kubelet's layout.
    pub fn parse(pods_dir: &Path, path: &'a Path) -> Option<PodPath<'a>> {
        let rest = path.strip_prefix(pods_dir).ok()?;
        let mut parts = rest.components().map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        });
        let pod_dir = parts.next()??;
        let container = parts.next()??;
        let _file = parts.next()??;
        if parts.next().is_some() {
            return None;
        }
        let mut pod_parts = pod_dir.split('_');
        let (namespace, pod, uid) = (pod_parts.next()?, pod_parts.next()?, pod_parts.next()?);
        if pod_parts.next().is_some() || [namespace, pod, uid, container].contains(&"") {
            return None;
        }
        Some(PodPath {
            namespace,
            pod,
            uid,
            container,
        })
    }

    /// The pod template hash in the pod's name, if it has one.
    pub fn pod_template_hash(&self) -> Option<&'a str> {
        pod_template_hash(self.pod)
    }
}

/// The characters of a pod name's random suffix (Kubernetes'
/// `rand.String` and `SafeEncodeString` alphabet).
fn suffix_char(c: u8) -> bool {
    matches!(c, b'b'..=b'd' | b'f'..=b'h' | b'j'..=b'n' | b'p'..=b't' | b'v'..=b'x' | b'z' | b'2' | b'4'..=b'9')
}

/// The characters a pod template hash is made of: the decimal digits
/// mapped through `SafeEncodeString`.
fn hash_char(c: u8) -> bool {
    matches!(c, b'4'..=b'9' | b'b' | b'c' | b'd' | b'f')
}

/// The pod template hash of a pod named `<name>-<hash>-<suffix>`: the
/// second-to-last dash-separated part when it is 6 to 10 hash characters
/// and the last is a 5-character random suffix.
pub fn pod_template_hash(pod: &str) -> Option<&str> {
    let (rest, suffix) = pod.rsplit_once('-')?;
    let (name, hash) = rest.rsplit_once('-')?;
    let ok = !name.is_empty()
        && suffix.len() == 5
        && suffix.bytes().all(suffix_char)
        && (6..=10).contains(&hash.len())
        && hash.bytes().all(hash_char);
    ok.then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_kubelets_layout() {
        let dir = Path::new("/var/log/pods");
        let p = Path::new(
            "/var/log/pods/shop_checkout-7d9c8b6f54-x2x9k_0b6a1c44-2f47-4d6e-9f59-1f3b5a0c9e21/checkout/0.log",
        );
        let got = PodPath::parse(dir, p).unwrap();
        assert_eq!(
            got,
            PodPath {
                namespace: "shop",
                pod: "checkout-7d9c8b6f54-x2x9k",
                uid: "0b6a1c44-2f47-4d6e-9f59-1f3b5a0c9e21",
                container: "checkout",
            }
        );
        assert_eq!(got.pod_template_hash(), Some("7d9c8b6f54"));
        // A rotated file: the same container.
        let r = Path::new("/var/log/pods/shop_web-0_u1/web/0.log.20240501-120000");
        assert_eq!(PodPath::parse(dir, r).unwrap().container, "web");
        for bad in [
            "/var/log/pods/shop_web-0_u1/0.log",
            "/var/log/pods/shop_web-0_u1/web/x/0.log",
            "/var/log/pods/shop_web-0/web/0.log",
            "/var/log/pods/shop_web_0_u1/web/0.log",
            "/var/log/pods/_web-0_u1/web/0.log",
            "/var/log/other/shop_web-0_u1/web/0.log",
            "/var/log/pods/../pods/shop_web-0_u1/web/0.log",
        ] {
            assert_eq!(PodPath::parse(dir, Path::new(bad)), None, "{bad}");
        }
        // Relative directories work the same.
        let rel = PodPath::parse(Path::new("pods"), Path::new("pods/a_b_c/d/1.log")).unwrap();
        assert_eq!(
            (rel.namespace, rel.pod, rel.uid, rel.container),
            ("a", "b", "c", "d")
        );
    }

    #[test]
    fn pod_template_hashes() {
        // Deployments (names seen on real clusters) and an Argo Rollout.
        for (pod, hash) in [
            ("nginx-deployment-66b6c48dd5-4jw2p", "66b6c48dd5"),
            ("coredns-5d78c9869d-8x7kq", "5d78c9869d"),
            ("metrics-server-6d94bc8694-2wbjm", "6d94bc8694"),
            ("argocd-repo-server-5b4d7b8c9f-zq2nm", "5b4d7b8c9f"),
            ("rollouts-demo-687d76d795-8bh6w", "687d76d795"),
            ("web-854b88d8f-6tqhx", "854b88d8f"),
            ("api-5f4b5c7d-xkd2v", "5f4b5c7d"),
        ] {
            assert_eq!(pod_template_hash(pod), Some(hash), "{pod}");
        }
        for pod in [
            // StatefulSet pods.
            "postgres-0",
            "kafka-broker-12",
            // DaemonSet and Job pods: a suffix, no hash.
            "kube-proxy-x7k2p",
            "fluent-bit-9vxzn",
            "node-exporter-7zk9x",
            "csi-node-driver-bx4r2",
            // A CronJob's pod: minutes since the epoch, then a suffix.
            "backup-28456782-4kx9z",
            "report-29012345-rk2vw",
            // Static and bare pods.
            "kube-apiserver-control-plane",
            "etcd-node1",
            "debug",
            // Shapes close to a hash that are not one.
            "a-66b6c48dd5-4jw2",
            "a-66b6c48dd5-4jw2pq",
            "a-66b6c48dd5-4JW2P",
            "a-6b6c4-4jw2p",
            "a-66b6c48dd5f-4jw2p",
            "a-66b6c4xdd5-4jw2p",
            "-66b6c48dd5-4jw2p",
            "66b6c48dd5-4jw2p",
        ] {
            assert_eq!(pod_template_hash(pod), None, "{pod}");
        }
    }
}
