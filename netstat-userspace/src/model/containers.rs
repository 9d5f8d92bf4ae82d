//! Which container a process runs in, read from its cgroup v2 path alone (no runtime is asked).
//!
//! The path is matched on its last components, so that it is recognised at any depth (a runtime
//! nested under another slice, or a test's scratch cgroup). The layouts recognised, `ID` being
//! 64 lowercase hex digits and `UID` a pod UID (hex digits and `-`, `_` in systemd slice names):
//!
//! | last components                                   | runtime      | pod UID |
//! |---------------------------------------------------|--------------|---------|
//! | `docker-ID.scope` (systemd driver)                | `docker`     |         |
//! | `docker/ID` (cgroupfs driver)                     | `docker`     |         |
//! | `libpod-ID.scope`, `libpod-ID.scope/container`    | `podman`     |         |
//! | `libpod_parent/libpod-ID` (cgroupfs manager)      | `podman`     |         |
//! | `cri-containerd-ID.scope`                         | `containerd` | from a `kubepods…-podUID.slice` parent |
//! | `crio-ID.scope`, `crio-ID` (under a pod)          | `cri-o`      | from the parent |
//! | `kubepods[…]/podUID/ID` (cgroupfs driver)         | `cri`        | UID     |
//! | `kubepods…-podUID.slice/docker-ID.scope`          | `docker`     | UID     |
//! | `NAME.service`                                    | `systemd`    |         |
//!
//! Runtimes' helper processes (`crio-conmon-ID.scope`, `libpod-conmon-ID.scope`) are not
//! containers and are not recognised; neither is a bare `NAMESPACE/ID`, which containerd
//! without CRI writes but which any cgroup could look like.

use std::fmt;

/// The container runtime a cgroup path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
    /// A Kubernetes pod's container under the cgroupfs driver, whose path does not say which CRI
    /// runtime made it.
    Cri,
    /// A systemd service (its unit name is the id).
    Systemd,
}

impl Runtime {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Cri => "cri",
            Runtime::Systemd => "systemd",
        }
    }
}

/// A container as its cgroup path names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Container {
    pub(crate) runtime: Runtime,
    /// The container id (64 hex digits), or the systemd unit's name. Untrusted: a unit name is
    /// whatever bytes the cgroup's name holds.
    pub(crate) id: Vec<u8>,
    /// The Kubernetes pod's UID, with `-` where a systemd slice name has `_`.
    pub(crate) pod_uid: Option<String>,
}

/// How many hex digits of a container id the text column shows, as `docker ps` does.
const SHORT_ID: usize = 12;

impl Container {
    /// The container a cgroup v2 path (as /proc/PID/cgroup shows it) names, if any.
    pub(crate) fn from_cgroup_path(path: &[u8]) -> Option<Container> {
        let mut components = path.rsplit(|&b| b == b'/').filter(|c| !c.is_empty());
        let mut last = components.next()?;
        let mut parent = components.next();
        // podman --cgroups=split and systemd inside a container put the processes one level
        // below the container's scope.
        if last == b"container"
            && let Some(scope) = parent
            && scope.starts_with(b"libpod-")
        {
            last = scope;
            parent = components.next();
        }
        let pod_uid = parent.and_then(pod_uid);
        let container = |runtime, id: &[u8]| {
            Some(Container {
                runtime,
                id: id.to_vec(),
                pod_uid: pod_uid.clone(),
            })
        };
        if let Some(name) = last.strip_suffix(b".scope") {
            for (prefix, runtime) in [
                (&b"docker-"[..], Runtime::Docker),
                (b"cri-containerd-", Runtime::Containerd),
                (b"crio-", Runtime::CriO),
                (b"libpod-", Runtime::Podman),
            ] {
                if let Some(id) = name.strip_prefix(prefix)
                    && is_container_id(id)
                {
                    return container(runtime, id);
                }
            }
            return None;
        }
        if let Some(id) = last.strip_prefix(b"crio-")
            && is_container_id(id)
            && pod_uid.is_some()
        {
            return container(Runtime::CriO, id);
        }
        if is_container_id(last) {
            match parent {
                Some(b"docker") => return container(Runtime::Docker, last),
                Some(b"libpod_parent") => return container(Runtime::Podman, last),
                _ if pod_uid.is_some() => return container(Runtime::Cri, last),
                _ => return None,
            }
        }
        if let Some(id) = last.strip_prefix(b"libpod-")
            && is_container_id(id)
            && parent == Some(b"libpod_parent")
        {
            return container(Runtime::Podman, id);
        }
        if last.len() > b".service".len() && last.ends_with(b".service") {
            return Some(Container {
                runtime: Runtime::Systemd,
                id: last.to_vec(),
                pod_uid: None,
            });
        }
        None
    }

    /// The id as the text column shows it: a container id's first 12 digits, a unit's name.
    pub(crate) fn short_id(&self) -> &[u8] {
        match self.runtime {
            Runtime::Systemd => &self.id,
            _ => &self.id[..self.id.len().min(SHORT_ID)],
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_container_id(id: &[u8]) -> bool {
    id.len() == 64 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A pod's UID from its cgroup: `podUID` (cgroupfs driver) or `kubepods…-podUID.slice`
/// (systemd driver, which writes the UID's `-` as `_`).
fn pod_uid(component: &[u8]) -> Option<String> {
    let uid = match component.strip_suffix(b".slice") {
        Some(slice) if slice.starts_with(b"kubepods") => {
            let at = slice.windows(4).rposition(|w| w == b"-pod")?;
            &slice[at + 4..]
        }
        Some(_) => return None,
        None => component.strip_prefix(b"pod")?,
    };
    let valid = !uid.is_empty()
        && uid.len() <= 64
        && uid
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-' | b'_'));
    valid.then(|| {
        uid.iter()
            .map(|&b| if b == b'_' { '-' } else { char::from(b) })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2b7d9e8a4f6b0c5d7e9f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    const UID: &str = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";

    fn parse(path: &str) -> Option<(Runtime, String, Option<String>)> {
        Container::from_cgroup_path(path.as_bytes()).map(|c| {
            (
                c.runtime,
                String::from_utf8(c.id).unwrap(),
                c.pod_uid.clone(),
            )
        })
    }

    fn found(
        runtime: Runtime,
        id: &str,
        pod: Option<&str>,
    ) -> Option<(Runtime, String, Option<String>)> {
        Some((runtime, id.to_string(), pod.map(str::to_string)))
    }

    #[test]
    fn docker_under_both_drivers() {
        assert_eq!(
            parse(&format!("/system.slice/docker-{ID}.scope")),
            found(Runtime::Docker, ID, None)
        );
        assert_eq!(
            parse(&format!("/docker/{ID}")),
            found(Runtime::Docker, ID, None)
        );
        // Nested anywhere (a test's scratch cgroup, a runtime inside a slice).
        assert_eq!(
            parse(&format!("/enetstat-test-123/docker-{ID}.scope")),
            found(Runtime::Docker, ID, None)
        );
        assert_eq!(parse("/docker/abc"), None, "not a 64-digit id");
        assert_eq!(parse(&format!("/docker-{}.scope", &ID[..63])), None);
        assert_eq!(parse(&format!("/docker-{}.scope", ID.to_uppercase())), None);
    }

    #[test]
    fn kubernetes_systemd_driver() {
        let slice_uid = UID.replace('-', "_");
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice/cri-containerd-{ID}.scope"
            )),
            found(Runtime::Containerd, ID, Some(UID))
        );
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-pod{slice_uid}.slice/crio-{ID}.scope"
            )),
            found(Runtime::CriO, ID, Some(UID))
        );
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{slice_uid}.slice/docker-{ID}.scope"
            )),
            found(Runtime::Docker, ID, Some(UID))
        );
        // A static pod's UID is a hash without dashes.
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c4b5a69788796a5b4c3d2e1f0.slice/cri-containerd-{ID}.scope"
            )),
            found(
                Runtime::Containerd,
                ID,
                Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
            )
        );
        // The pod's own slice (its pause process's parent) is no container.
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice"
            )),
            None
        );
        assert_eq!(parse("/kubepods.slice/kubepods-burstable.slice"), None);
    }

    #[test]
    fn kubernetes_cgroupfs_driver() {
        assert_eq!(
            parse(&format!("/kubepods/burstable/pod{UID}/{ID}")),
            found(Runtime::Cri, ID, Some(UID))
        );
        assert_eq!(
            parse(&format!("/kubepods/pod{UID}/{ID}")),
            found(Runtime::Cri, ID, Some(UID))
        );
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod{UID}/crio-{ID}")),
            found(Runtime::CriO, ID, Some(UID))
        );
        assert_eq!(parse(&format!("/kubepods/burstable/pod{UID}")), None);
        assert_eq!(
            parse(&format!("/kubepods/burstable/pod{UID}/notanid")),
            None
        );
    }

    #[test]
    fn podman_rootful_and_rootless() {
        assert_eq!(
            parse(&format!("/machine.slice/libpod-{ID}.scope")),
            found(Runtime::Podman, ID, None)
        );
        assert_eq!(
            parse(&format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
            )),
            found(Runtime::Podman, ID, None)
        );
        assert_eq!(
            parse(&format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
            )),
            found(Runtime::Podman, ID, None)
        );
        assert_eq!(
            parse(&format!("/libpod_parent/libpod-{ID}")),
            found(Runtime::Podman, ID, None)
        );
        assert_eq!(
            parse(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None,
            "conmon is not the container"
        );
        assert_eq!(
            parse(&format!("/system.slice/crio-conmon-{ID}.scope")),
            None
        );
    }

    #[test]
    fn containerd_without_cri_is_not_guessed() {
        assert_eq!(parse(&format!("/default/{ID}")), None);
        assert_eq!(parse(&format!("/k8s.io/{ID}")), None);
        assert_eq!(
            parse(&format!("/system.slice/cri-containerd-{ID}.scope")),
            found(Runtime::Containerd, ID, None)
        );
    }

    #[test]
    fn systemd_units_and_everything_else() {
        assert_eq!(
            parse("/system.slice/ssh.service"),
            found(Runtime::Systemd, "ssh.service", None)
        );
        assert_eq!(
            parse("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"),
            found(Runtime::Systemd, "foo.service", None)
        );
        assert_eq!(
            parse("/system.slice/system-getty.slice/getty@tty1.service"),
            found(Runtime::Systemd, "getty@tty1.service", None)
        );
        assert_eq!(parse("/user.slice/user-1000.slice/session-3.scope"), None);
        assert_eq!(parse("/init.scope"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("/.service"), None);
        assert_eq!(parse("/system.slice"), None);
    }

    #[test]
    fn short_ids() {
        let docker = Container::from_cgroup_path(format!("/docker/{ID}").as_bytes()).unwrap();
        assert_eq!(docker.short_id(), &ID.as_bytes()[..12]);
        let unit = Container::from_cgroup_path(b"/system.slice/ssh.service").unwrap();
        assert_eq!(unit.short_id(), b"ssh.service");
    }
}
