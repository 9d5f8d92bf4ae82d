//! A strict parser of the OpenMetrics text format (what `enetstat serve --metrics` exposes): it
//! rejects what a scraper could misread, rather than guessing.
//!
//! Checked: the `# EOF` end, metadata before samples and at most once, families not interleaved,
//! names and labels well formed, label values unescaped, each sample's name one its family's type
//! allows, no duplicate series, counters not negative, and histograms whole (buckets ascending and
//! cumulative up to `+Inf`, which equals `_count`).

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context as _, bail, ensure};

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, ... (`unknown` when no TYPE line was given).
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exposition {
    pub families: Vec<MetricFamily>,
}

const TYPES: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
];

/// The suffixes a sample of a family of this type may add to the family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "gaugehistogram" => &["_bucket", "_gcount", "_gsum"],
        "summary" => &["", "_count", "_sum", "_created"],
        "info" => &["_info"],
        _ => &[""],
    }
}

impl Exposition {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let body = text
            .strip_suffix("# EOF\n")
            .or_else(|| text.strip_suffix("# EOF"))
            .context("the exposition does not end with # EOF")?;
        let mut families: Vec<MetricFamily> = Vec::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
        for (number, line) in body.lines().enumerate() {
            let context = || format!("line {}: {line:?}", number + 1);
            if let Some(meta) = line.strip_prefix("# ") {
                let (keyword, rest) = meta.split_once(' ').with_context(context)?;
                let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                check_name(name).with_context(context)?;
                let family =
                    open_family(&mut families, &mut finished, name).with_context(context)?;
                ensure!(
                    family.samples.is_empty(),
                    "metadata after samples: {}",
                    context()
                );
                match keyword {
                    "TYPE" => {
                        ensure!(TYPES.contains(&value), "unknown type: {}", context());
                        ensure!(family.kind == "unknown", "second TYPE: {}", context());
                        family.kind = value.to_string();
                    }
                    "HELP" => {
                        ensure!(family.help.is_none(), "second HELP: {}", context());
                        family.help = Some(unescape(value, false).with_context(context)?);
                    }
                    "UNIT" => {
                        ensure!(family.unit.is_none(), "second UNIT: {}", context());
                        ensure!(
                            name.ends_with(&format!("_{value}")),
                            "a family with a unit is named for it: {}",
                            context()
                        );
                        family.unit = Some(value.to_string());
                    }
                    _ => bail!("unknown metadata: {}", context()),
                }
                continue;
            }
            ensure!(!line.starts_with('#'), "stray comment: {}", context());
            ensure!(!line.is_empty(), "empty line: {}", context());
            let sample = parse_sample(line).with_context(context)?;
            let family = families
                .last_mut()
                .filter(|f| belongs(f, &sample.name))
                .with_context(|| format!("sample outside its family: {}", context()))?;
            ensure!(
                family.kind != "counter" || sample.value >= 0.0 || !sample.name.ends_with("_total"),
                "negative counter: {}",
                context()
            );
            let key = (
                sample.name.clone(),
                sample.labels.clone().into_iter().collect::<Vec<_>>(),
            );
            ensure!(series.insert(key), "duplicate series: {}", context());
            family.samples.push(sample);
        }
        for family in &families {
            if family.kind == "histogram" {
                check_histogram(family)?;
            }
        }
        Ok(Exposition { families })
    }

    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The samples named `name`, of whichever family.
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(move |s| s.name == name)
    }

    /// The value of the sample named `name` with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples(name)
            .find(|s| s.labels == wanted)
            .map(|s| s.value)
    }
}

/// The family named `name`: the current one, or a new one (a family does not come back).
fn open_family<'a>(
    families: &'a mut Vec<MetricFamily>,
    finished: &mut HashSet<String>,
    name: &str,
) -> anyhow::Result<&'a mut MetricFamily> {
    if families.last().is_none_or(|f| f.name != name) {
        if let Some(previous) = families.last() {
            finished.insert(previous.name.clone());
        }
        ensure!(!finished.contains(name), "family {name} appears twice");
        families.push(MetricFamily {
            name: name.to_string(),
            kind: "unknown".to_string(),
            help: None,
            unit: None,
            samples: Vec::new(),
        });
    }
    Ok(families.last_mut().expect("just pushed"))
}

fn belongs(family: &MetricFamily, sample: &str) -> bool {
    sample
        .strip_prefix(family.name.as_str())
        .is_some_and(|suffix| suffixes(&family.kind).contains(&suffix))
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    ensure!(
        first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name {name:?}"
    );
    Ok(())
}

fn check_label_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    ensure!(
        first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "bad label name {name:?}"
    );
    Ok(())
}

/// Undoes `\\`, `\n` and (in label values) `\"`; any other escape is an error.
fn unescape(text: &str, quotes: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => bail!("bad escape \\{other:?} in {text:?}"),
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> anyhow::Result<Sample> {
    let name_end = line.find(['{', ' ']).context("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            if !labels.is_empty() {
                rest = rest
                    .strip_prefix(',')
                    .context("labels not separated by ','")?;
            }
            let (label, after) = rest.split_once("=\"").context("label without =\"")?;
            check_label_name(label)?;
            // The value ends at the first quote not escaped.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.context("label value not closed")?;
            let value = unescape(&after[..end], true)?;
            ensure!(
                labels.insert(label.to_string(), value).is_none(),
                "label {label} twice"
            );
            rest = &after[end + 1..];
        }
    }
    let rest = rest
        .strip_prefix(' ')
        .context("no space before the value")?;
    ensure!(!rest.contains(" # "), "exemplars are not expected");
    let mut fields = rest.split(' ');
    let value = parse_number(fields.next().unwrap_or_default())?;
    if let Some(timestamp) = fields.next() {
        parse_number(timestamp)?;
    }
    ensure!(fields.next().is_none(), "trailing fields");
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_number(text: &str) -> anyhow::Result<f64> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            ensure!(
                !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')),
                "bad number {text:?}"
            );
            text.parse().with_context(|| format!("bad number {text:?}"))
        }
    }
}

/// Per series (labels less `le`): buckets ascending and cumulative, `+Inf` last and equal to
/// `_count`.
fn check_histogram(family: &MetricFamily) -> anyhow::Result<()> {
    let name = &family.name;
    // Series labels (less `le`) -> (le, count) in order.
    type Buckets = BTreeMap<Vec<(String, String)>, Vec<(f64, f64)>>;
    let mut buckets = Buckets::new();
    for sample in family
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket"))
    {
        let mut labels = sample.labels.clone();
        let le = labels
            .remove("le")
            .with_context(|| format!("{name}: a bucket without le"))?;
        buckets
            .entry(labels.into_iter().collect())
            .or_default()
            .push((parse_number(&le)?, sample.value));
    }
    ensure!(!buckets.is_empty(), "{name}: no buckets");
    for (labels, series) in &buckets {
        for pair in series.windows(2) {
            ensure!(
                pair[0].0 < pair[1].0,
                "{name}{labels:?}: buckets out of order"
            );
            ensure!(
                pair[0].1 <= pair[1].1,
                "{name}{labels:?}: buckets not cumulative"
            );
        }
        let last = series.last().expect("not empty");
        ensure!(last.0 == f64::INFINITY, "{name}{labels:?}: no +Inf bucket");
        let wanted: BTreeMap<String, String> = labels.iter().cloned().collect();
        let count = family
            .samples
            .iter()
            .find(|s| s.name == format!("{name}_count") && s.labels == wanted)
            .with_context(|| format!("{name}{labels:?}: no _count"))?;
        ensure!(
            count.value == last.1,
            "{name}{labels:?}: +Inf bucket {} but _count {}",
            last.1,
            count.value
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# HELP a_requests Requests \\\\ served.
# TYPE a_requests counter
a_requests_total{path=\"/x\",code=\"200\"} 3
a_requests_total{path=\"q\\\"\\\\\\n\",code=\"500\"} 1
# HELP a_up Whether it is up.
# TYPE a_up gauge
a_up 1
# TYPE a_latency_seconds histogram
# UNIT a_latency_seconds seconds
a_latency_seconds_sum 0.5
a_latency_seconds_count 2
a_latency_seconds_bucket{le=\"0.1\"} 1
a_latency_seconds_bucket{le=\"1.0\"} 2
a_latency_seconds_bucket{le=\"+Inf\"} 2
# EOF
";

    #[test]
    fn parses_a_good_exposition() {
        let parsed = Exposition::parse(GOOD).unwrap();
        assert_eq!(parsed.families.len(), 3);
        let requests = parsed.family("a_requests").unwrap();
        assert_eq!(requests.kind, "counter");
        assert_eq!(requests.help.as_deref(), Some("Requests \\ served."));
        assert_eq!(
            parsed.value("a_requests_total", &[("path", "/x"), ("code", "200")]),
            Some(3.0)
        );
        assert_eq!(
            parsed.value("a_requests_total", &[("path", "q\"\\\n"), ("code", "500")]),
            Some(1.0)
        );
        assert_eq!(parsed.value("a_requests_total", &[("path", "/x")]), None);
        assert_eq!(parsed.value("a_up", &[]), Some(1.0));
        assert_eq!(
            parsed.family("a_latency_seconds").unwrap().unit.as_deref(),
            Some("seconds")
        );
        assert_eq!(
            parsed.value("a_latency_seconds_bucket", &[("le", "+Inf")]),
            Some(2.0)
        );
    }

    #[test]
    fn rejects_what_a_scraper_could_misread() {
        let broken = [
            ("no EOF", GOOD.replace("# EOF\n", "")),
            ("text after EOF", format!("{GOOD}a_up 1\n")),
            (
                "wrong suffix",
                GOOD.replace("a_requests_total{path=\"/x\"", "a_requests{path=\"/x\""),
            ),
            ("gauge with suffix", GOOD.replace("a_up 1", "a_up_total 1")),
            (
                "duplicate",
                GOOD.replace("code=\"500\"", "code=\"200\"")
                    .replace("q\\\"\\\\\\n", "/x"),
            ),
            ("bad escape", GOOD.replace("q\\\"", "q\\t")),
            ("unclosed", GOOD.replace("code=\"500\"}", "code=\"500}")),
            ("bad number", GOOD.replace("a_up 1", "a_up one")),
            ("trailing", GOOD.replace("a_up 1", "a_up 1 2 3")),
            ("negative counter", GOOD.replace("} 3", "} -3")),
            (
                "bad type",
                GOOD.replace("TYPE a_up gauge", "TYPE a_up gauges"),
            ),
            (
                "late metadata",
                GOOD.replace("a_up 1\n", "a_up 1\n# HELP a_up again\n"),
            ),
            (
                "interleaved",
                format!(
                    "{}a_requests_total{{path=\"z\",code=\"1\"}} 1\n# EOF\n",
                    GOOD.trim_end_matches("# EOF\n")
                ),
            ),
            (
                "unit name",
                GOOD.replace(
                    "UNIT a_latency_seconds seconds",
                    "UNIT a_latency_seconds bytes",
                ),
            ),
            (
                "not cumulative",
                GOOD.replace("le=\"1.0\"} 2", "le=\"1.0\"} 0"),
            ),
            (
                "count differs",
                GOOD.replace("a_latency_seconds_count 2", "a_latency_seconds_count 3"),
            ),
            (
                "no +Inf",
                GOOD.replace("a_latency_seconds_bucket{le=\"+Inf\"} 2\n", ""),
            ),
            ("empty line", GOOD.replace("a_up 1\n", "a_up 1\n\n")),
            ("bad label", GOOD.replace("code=", "1code=")),
            ("label twice", GOOD.replace("code=\"200\"", "path=\"200\"")),
        ];
        for (what, text) in broken {
            assert!(
                Exposition::parse(&text).is_err(),
                "{what} accepted:\n{text}"
            );
        }
    }
}
