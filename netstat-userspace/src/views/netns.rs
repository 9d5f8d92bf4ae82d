//! How a network namespace is named on output (`--netns`): the text line before each namespace's
//! section, and the `"netns"` member JSON objects gain.

use std::fmt::Write as _;

use super::escape::escape_bytes;
use crate::model::netns::Namespace;

/// The line before a namespace's netstat section: `Network namespace INODE (NAME)`, or without the
/// parenthesis when it has no `ip netns` name. Sections after the first are set off by an empty
/// line. The name is escaped as every untrusted byte is.
pub(crate) fn heading(ns: &Namespace, first: bool) -> String {
    let mut line = String::new();
    if !first {
        line.push('\n');
    }
    let _ = write!(line, "Network namespace {}", ns.inode);
    if let Some(name) = &ns.name {
        let _ = write!(line, " ({})", escape_bytes(name.as_bytes()));
    }
    line.push('\n');
    line
}

/// `"netns":{"inode":N,"name":"…"}` (name null without one): a member of every JSON object.
pub(crate) fn json_member(ns: &Namespace) -> String {
    let name = ns.name.as_deref().map(|name| escape_bytes(name.as_bytes()));
    let name = serde_json::to_string(&name).expect("a string serializes");
    format!("\"netns\":{{\"inode\":{},\"name\":{name}}}", ns.inode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: Option<&str>) -> Namespace {
        Namespace {
            inode: 4026532281,
            name: name.map(Into::into),
            path: "/run/netns/x".into(),
        }
    }

    #[test]
    fn headings_name_the_namespace_and_escape_its_name() {
        assert_eq!(
            heading(&ns(Some("blue")), true),
            "Network namespace 4026532281 (blue)\n"
        );
        assert_eq!(
            heading(&ns(None), false),
            "\nNetwork namespace 4026532281\n"
        );
        assert_eq!(
            heading(&ns(Some("a\x1b[2Jb")), true),
            "Network namespace 4026532281 (a\\x1b[2Jb)\n"
        );
    }

    #[test]
    fn json_members_carry_inode_and_name() {
        let object = format!("{{{}}}", json_member(&ns(Some("blue"))));
        let value: serde_json::Value = serde_json::from_str(&object).unwrap();
        assert_eq!(value["netns"]["inode"], 4026532281u64);
        assert_eq!(value["netns"]["name"], "blue");
        let object = format!("{{{}}}", json_member(&ns(None)));
        let value: serde_json::Value = serde_json::from_str(&object).unwrap();
        assert!(value["netns"]["name"].is_null());
    }
}
