//! Writing benchmark tables into BENCHMARKS.md, one section per benchmark, replaced in place.

use std::path::Path;

/// Replaces the text between this benchmark's markers, or appends a new section.
pub(crate) fn update_section(file: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let old = std::fs::read_to_string(file)
        .unwrap_or_else(|_| "# Benchmarks\n\nProduced by `cargo xtask bench ...`; each section names the command that wrote it.\n".to_string());
    let section = format!("{begin}\n{body}{end}");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{}{}", &old[..b], section, &old[e + end.len()..]),
        _ => format!("{}\n{}\n", old.trim_end(), section),
    };
    std::fs::write(file, new)?;
    Ok(())
}

/// "2 cores, Linux 6.1.0", for a benchmark's heading.
pub(crate) fn machine_summary() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, Linux {}", kernel.trim())
}

/// A Markdown table.
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        out += &format!("| {} |\n", row.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("B.md");
        update_section(&file, "a", "one\n").unwrap();
        update_section(&file, "b", "two\n").unwrap();
        update_section(&file, "a", "three\n").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("<!-- BEGIN a -->\nthree\n<!-- END a -->"));
        assert!(text.contains("<!-- BEGIN b -->\ntwo\n<!-- END b -->"));
        assert!(!text.contains("one"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
