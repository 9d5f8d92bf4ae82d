//! dist/kubernetes/ against the Kubernetes schema (PyPI's kubernetes-validate, `--strict`, which
//! `cargo xtask test` installs and names in $ENETSTAT_KUBERNETES_VALIDATE), and what no schema
//! checks: that the DaemonSet, the Service and the ServiceMonitor name each other's labels and
//! ports, and that dist/Containerfile builds what this workspace calls its binary.
//!
//! The ServiceMonitor is a custom resource whose schema (the Prometheus Operator's CRD) comes
//! from no package registry, so its structure is checked here instead, against the fields of
//! monitoring.coreos.com/v1 it uses.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_norway::Value;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

fn manifest(name: &str) -> Value {
    let path = dist().join("kubernetes").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn validator() -> PathBuf {
    let program = std::env::var_os("ENETSTAT_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .expect(
            "ENETSTAT_KUBERNETES_VALIDATE is not set: run `cargo xtask test`, which installs \
             PyPI's kubernetes-validate into target/kubernetes-validate and sets it",
        );
    assert!(
        program.is_file(),
        "ENETSTAT_KUBERNETES_VALIDATE={}: no such file",
        program.display()
    );
    program
}

/// kubernetes-validate --strict on `path`: whether it passed, and what it said.
fn validate(path: &Path) -> (bool, String) {
    let out = Command::new(validator())
        .arg("--strict")
        .arg(path)
        .output()
        .expect("running kubernetes-validate");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The built-in kinds: each passes the schema of the Kubernetes version the validator defaults
/// to, with no field it does not know.
#[test]
fn built_in_manifests_pass_the_kubernetes_schema() {
    for name in ["namespace.yaml", "daemonset.yaml", "service.yaml"] {
        let (passed, said) = validate(&dist().join("kubernetes").join(name));
        assert!(passed, "{name}: {said}");
        assert!(
            said.contains("passed") && !said.contains("Couldn't find schema"),
            "{name} was not checked against a schema: {said}"
        );
    }
    eprintln!(
        "servicemonitor.yaml: not given to kubernetes-validate (a CRD without a schema there); \
         its structure is checked by the_service_monitor_scrapes_the_daemons"
    );
}

/// The validator fails what it should: a DaemonSet with a misspelt field.
#[test]
fn the_validator_refuses_an_unknown_field() {
    let text = std::fs::read_to_string(dist().join("kubernetes/daemonset.yaml")).unwrap();
    let broken = text.replacen("hostPID: true", "hostPid: true", 1);
    assert_ne!(text, broken);
    let path = std::env::temp_dir().join(format!("enetstat-daemonset-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (passed, said) = validate(&path);
    let _ = std::fs::remove_file(&path);
    assert!(!passed, "a misspelt field passed: {said}");
}

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |value, key| &value[*key])
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The DaemonSet runs the daemon in the host's PID and network namespaces with the unit's
/// capabilities (and setns's), shares the control socket's directory with the node, and serves
/// metrics on the port its scrape annotations name.
#[test]
fn the_daemon_set_is_the_units_daemon_on_every_node() {
    let daemon_set = manifest("daemonset.yaml");
    assert_eq!(daemon_set["kind"].as_str(), Some("DaemonSet"));
    let pod = at(&daemon_set, &["spec", "template"]);
    let spec = &pod["spec"];
    assert_eq!(spec["hostPID"].as_bool(), Some(true));
    assert_eq!(spec["hostNetwork"].as_bool(), Some(true));
    let container = &spec["containers"][0];
    let capabilities = strings(at(container, &["securityContext", "capabilities", "add"]));
    let unit = std::fs::read_to_string(dist().join("enetstat.service")).unwrap();
    let bounding = unit
        .lines()
        .find_map(|line| line.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit's CapabilityBoundingSet");
    for capability in bounding
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_"))
        .chain(["SYS_ADMIN"])
    {
        assert!(
            capabilities.contains(&capability),
            "the DaemonSet lacks {capability}: {capabilities:?}"
        );
    }
    assert_eq!(
        strings(at(container, &["securityContext", "capabilities", "drop"])),
        ["ALL"]
    );
    let args = strings(&container["args"]);
    assert_eq!(args.first(), Some(&"serve"));
    let metrics = args
        .iter()
        .position(|a| *a == "--metrics")
        .and_then(|i| args.get(i + 1))
        .expect("serve --metrics ADDR");
    let port = &container["ports"][0];
    assert_eq!(port["name"].as_str(), Some("metrics"));
    let number = port["containerPort"].as_u64().unwrap();
    assert!(
        metrics.ends_with(&format!(":{number}")),
        "{metrics} vs {number}"
    );
    let annotations = at(pod, &["metadata", "annotations"]);
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(number.to_string().as_str())
    );
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
    let socket_dir = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"].as_str() == Some("/run/enetstat"))
        .expect("a mount at /run/enetstat");
    let volume = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == socket_dir["name"])
        .unwrap();
    assert_eq!(
        at(volume, &["hostPath", "path"]).as_str(),
        Some("/run/enetstat")
    );
    assert_eq!(
        at(&daemon_set, &["spec", "selector", "matchLabels"]),
        at(pod, &["metadata", "labels"])
    );
}

/// The ServiceMonitor is monitoring.coreos.com/v1 with only fields that version defines, and it
/// reaches the daemons: it selects the Service's labels in its namespace and names the port the
/// Service forwards to the daemons' metrics port.
#[test]
fn the_service_monitor_scrapes_the_daemons() {
    let monitor = manifest("servicemonitor.yaml");
    let service = manifest("service.yaml");
    let daemon_set = manifest("daemonset.yaml");
    assert_eq!(
        monitor["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(monitor["kind"].as_str(), Some("ServiceMonitor"));
    let keys = |value: &Value| -> Vec<String> {
        value
            .as_mapping()
            .expect("a mapping")
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    let known = |value: &Value, allowed: &[&str]| {
        for key in keys(value) {
            assert!(
                allowed.contains(&key.as_str()),
                "ServiceMonitor: unknown field {key}"
            );
        }
    };
    known(&monitor, &["apiVersion", "kind", "metadata", "spec"]);
    let spec = &monitor["spec"];
    known(
        spec,
        &[
            "selector",
            "namespaceSelector",
            "endpoints",
            "jobLabel",
            "targetLabels",
            "podTargetLabels",
        ],
    );
    for endpoint in spec["endpoints"].as_sequence().expect("endpoints") {
        known(
            endpoint,
            &[
                "port",
                "path",
                "scheme",
                "interval",
                "scrapeTimeout",
                "relabelings",
                "metricRelabelings",
                "honorLabels",
                "tlsConfig",
                "basicAuth",
            ],
        );
        for relabeling in endpoint["relabelings"].as_sequence().into_iter().flatten() {
            known(
                relabeling,
                &[
                    "sourceLabels",
                    "separator",
                    "targetLabel",
                    "regex",
                    "modulus",
                    "replacement",
                    "action",
                ],
            );
        }
    }
    assert_eq!(
        at(spec, &["selector", "matchLabels"]),
        at(&service, &["metadata", "labels"])
    );
    assert_eq!(
        strings(at(spec, &["namespaceSelector", "matchNames"])),
        [service["metadata"]["namespace"].as_str().unwrap()]
    );
    let port = &service["spec"]["ports"][0];
    assert_eq!(spec["endpoints"][0]["port"], port["name"]);
    assert_eq!(port["targetPort"].as_str(), Some("metrics"));
    assert_eq!(
        at(&service, &["spec", "selector"]),
        at(&daemon_set, &["spec", "template", "metadata", "labels"])
    );
}

/// dist/Containerfile builds the binary this workspace names, by the setup that `cargo xtask`
/// offers, and copies it from the build stage into the runtime image as its entry point.
#[test]
fn the_containerfile_builds_the_binary_from_source() {
    let text = std::fs::read_to_string(dist().join("Containerfile")).unwrap();
    let instructions: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .filter(|line| !line.starts_with(' '))
        .collect();
    let froms: Vec<&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(
        froms[1].contains("debian") && froms[1].contains("slim"),
        "{}",
        froms[1]
    );
    for line in &instructions {
        let word = line.split_whitespace().next().unwrap();
        assert!(
            [
                "FROM",
                "RUN",
                "WORKDIR",
                "COPY",
                "ENTRYPOINT",
                "CMD",
                "ENV",
                "ARG"
            ]
            .contains(&word),
            "not an instruction: {line}"
        );
    }
    assert!(text.contains("cargo xtask setup"));
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../netstat-userspace/Cargo.toml"),
    )
    .unwrap();
    assert!(
        manifest.contains("name = \"enetstat\""),
        "the binary's name moved"
    );
    assert!(text.contains("-p netstat-userspace --bin enetstat"));
    assert!(
        text.contains("COPY --from=build /src/target/release/enetstat /usr/local/bin/enetstat")
    );
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/enetstat\"]"));
    assert!(
        text.contains("nightly") && text.contains("rust-src"),
        "the eBPF crate builds with nightly's rust-src"
    );
    let daemon_set = manifest_text("daemonset.yaml");
    assert!(
        daemon_set.contains("/usr/local/bin/enetstat"),
        "the probe runs the image's binary"
    );
}

fn manifest_text(name: &str) -> String {
    std::fs::read_to_string(dist().join("kubernetes").join(name)).unwrap()
}
