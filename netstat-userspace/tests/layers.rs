//! The layer rule, checked: every `crate::…` (and `super::…` that climbs out of a top-level
//! module) path in `src/` must name a layer its own layer may use. The README's "Layout" section
//! lists the same order; this table is the one that counts.

#![allow(
    unused_crate_dependencies,
    reason = "a test target sees all of the package's dependencies and reads only files"
)]

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// Each layer with the layers it may import, from the top of the program down. `lib.rs` and
/// `main.rs` stand above all of them.
const LAYERS: &[(&str, &[&str])] = &[
    // clap's raw arguments, then the checked configuration each command takes.
    (
        "cli",
        &[
            "commands",
            "daemon",
            "snapshot",
            "views",
            "aggregator",
            "sources",
            "events",
            "probes",
            "model",
            "output",
            "logging",
        ],
    ),
    // Wiring only: a checked config in, sources and views joined up.
    (
        "commands",
        &[
            "daemon",
            "snapshot",
            "views",
            "aggregator",
            "sources",
            "events",
            "probes",
            "model",
            "output",
            "logging",
        ],
    ),
    (
        "daemon",
        &[
            "snapshot",
            "views",
            "aggregator",
            "sources",
            "events",
            "probes",
            "model",
            "output",
            "logging",
        ],
    ),
    // The snapshot service: one view of the kernel's tables, read from sources and rendered
    // through views, called alike by the CLI and by the daemon.
    (
        "snapshot",
        &[
            "views",
            "aggregator",
            "sources",
            "events",
            "probes",
            "model",
            "output",
            "logging",
        ],
    ),
    // Renderers take model rows and aggregator state: no sources, probes or raw flags.
    ("views", &["aggregator", "events", "model", "output"]),
    // Pure state machines over events and model rows.
    ("aggregator", &["events", "model"]),
    (
        "sources",
        &["events", "probes", "model", "output", "logging"],
    ),
    ("events", &["model"]),
    ("probes", &["model", "logging"]),
    ("model", &[]),
    // Process-wide plumbing that everything may use and that uses nothing.
    ("output", &[]),
    ("logging", &[]),
];

/// The top-level module a path under `src/` belongs to (`None` for the crate roots).
fn layer_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        file => Some(file.trim_end_matches(".rs").to_string()),
    }
}

/// The module path of a file under `src/`, e.g. `sources/proc/dev.rs` → `[sources, proc, dev]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// Source text without comments and string literals, so that prose never counts as an import.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (byte, _) => {
                out.push(byte as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The first segment after each `crate::` (every item of a `crate::{a::…, b}` group), and the
/// module each `super::` chain climbs to, resolved against the file's own module path.
fn imported_layers(code: &str, own_path: &[String]) -> BTreeSet<String> {
    let bytes = code.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]);
        if at_word_start && bytes[i..].starts_with(b"crate::") {
            i += "crate::".len();
            if bytes.get(i) == Some(&b'{') {
                group_heads(bytes, i + 1, &mut found);
            } else {
                found.insert(ident_at(bytes, i));
            }
            continue;
        }
        if at_word_start && bytes[i..].starts_with(b"super::") {
            // `super` from `a/b/c.rs` names `a::b`; each further `super` climbs one more.
            let mut depth = own_path.len();
            while bytes[i..].starts_with(b"super::") {
                depth = depth.saturating_sub(1);
                i += "super::".len();
            }
            match own_path.get(..depth) {
                Some([top, ..]) => {
                    found.insert(top.clone());
                }
                _ if bytes.get(i) == Some(&b'{') => group_heads(bytes, i + 1, &mut found),
                _ => {
                    found.insert(ident_at(bytes, i));
                }
            }
            continue;
        }
        i += 1;
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

fn ident_at(bytes: &[u8], start: usize) -> String {
    let end = (start..bytes.len())
        .find(|&j| !is_ident(bytes[j]))
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

/// The first segment of each item in a `{…}` group that starts at `start`.
fn group_heads(bytes: &[u8], start: usize, found: &mut BTreeSet<String>) {
    let mut depth = 1;
    let mut expecting_head = true;
    let mut j = start;
    while j < bytes.len() && depth > 0 {
        match bytes[j] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 1 => expecting_head = true,
            byte if depth == 1 && expecting_head && is_ident(byte) => {
                let head = ident_at(bytes, j);
                j += head.len();
                found.insert(head);
                expecting_head = false;
                continue;
            }
            _ => {}
        }
        j += 1;
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every import against the table, as `file: layer -> imported`.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (relative, source) in files {
        let Some(layer) = layer_of(relative) else {
            continue;
        };
        let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == layer) else {
            wrong.push(format!(
                "{}: `{layer}` is in no layer of the table",
                relative.display()
            ));
            continue;
        };
        let own_path = module_path(relative);
        for imported in imported_layers(&code_only(source), &own_path) {
            if imported != layer && !allowed.contains(&imported.as_str()) {
                wrong.push(format!("{}: {layer} -> {imported}", relative.display()));
            }
        }
    }
    wrong
}

#[test]
fn imports_run_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(PathBuf, String)> = paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(&src).expect("under src/").to_path_buf();
            (
                relative,
                fs::read_to_string(path).expect("reading a source file"),
            )
        })
        .collect();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let wrong = violations(&files);
    assert!(
        wrong.is_empty(),
        "imports against the layer order (README, Layout):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_upward_and_grouped_imports() {
    let file = |path: &str, source: &str| (PathBuf::from(path), source.to_string());
    let files = [
        file("views/a.rs", "use crate::{model::X, sources::proc::Y};"),
        file(
            "sources/b/c.rs",
            "use super::super::super::daemon::Z; // crate::cli\n",
        ),
        file(
            "aggregator/d.rs",
            "fn f() { crate::cli::g(); let s = \"crate::views\"; }",
        ),
        file("model/e.rs", "use super::f::G; use crate::model::H;"),
        file("mystery.rs", ""),
    ];
    assert_eq!(
        violations(&files),
        [
            "views/a.rs: views -> sources",
            "sources/b/c.rs: sources -> daemon",
            "aggregator/d.rs: aggregator -> cli",
            "mystery.rs: `mystery` is in no layer of the table",
        ]
    );
}
