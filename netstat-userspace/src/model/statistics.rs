//! Protocol statistics: the kernel's counters by section, as /proc/net/snmp and friends give them.

/// One counter, named as the kernel names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) name: String,
    pub(crate) value: u64,
}

/// One "Title: names" / "Title: values" line pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) counters: Vec<Counter>,
}

/// Sections and counters for the tests of the layers that render them, from well-formed fixture
/// text: the files' quirks are the parser's tests (`sources::proc::snmp`, which also checks
/// that it reads these fixtures alike).
#[cfg(test)]
pub(crate) mod test_sections {
    use super::*;

    /// "Title: names" / "Title: values" line pairs; a negative value wraps, as strtoull reads it.
    pub(crate) fn line_pairs(text: &str) -> Vec<Section> {
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .map(|pair| {
                let (title, names) = pair[0].split_once(':').expect("a header line");
                let (_, values) = pair[1].split_once(':').expect("a value line");
                let names: Vec<&str> = names.split_whitespace().collect();
                let values: Vec<&str> = values.split_whitespace().collect();
                assert_eq!(names.len(), values.len(), "{title}: a value per name");
                Section {
                    title: title.to_string(),
                    counters: names
                        .into_iter()
                        .zip(values)
                        .map(|(name, value)| counter(name, value))
                        .collect(),
                }
            })
            .collect()
    }

    /// "name value" lines.
    pub(crate) fn name_value_lines(text: &str) -> Vec<Counter> {
        text.lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(name, value)| counter(name, value.trim()))
            .collect()
    }

    fn counter(name: &str, value: &str) -> Counter {
        Counter {
            name: name.to_string(),
            value: value.parse::<i64>().expect("a number") as u64,
        }
    }
}
