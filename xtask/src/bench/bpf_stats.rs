//! BPF programs' kernel run-time statistics (`run_time_ns`, `run_cnt`, `recursion_misses`), read
//! from the /proc/PID/fdinfo of the program descriptors a tracer holds. They count only while
//! statistics are on (`kernel.bpf_stats_enabled`, or a BPF_ENABLE_STATS descriptor).

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;

/// One program's kernel statistics, from its holder's /proc/PID/fdinfo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    pub(crate) run_time_ns: u64,
    pub(crate) run_cnt: u64,
    pub(crate) recursion_misses: u64,
}

impl Runs {
    pub(crate) fn since(self, before: Runs) -> Runs {
        Runs {
            run_time_ns: self.run_time_ns - before.run_time_ns,
            run_cnt: self.run_cnt - before.run_cnt,
            recursion_misses: self.recursion_misses - before.recursion_misses,
        }
    }

    pub(crate) fn add(&mut self, other: Runs) {
        self.run_time_ns += other.run_time_ns;
        self.run_cnt += other.run_cnt;
        self.recursion_misses += other.recursion_misses;
    }
}

/// What one /proc/PID/fdinfo file says about a BPF object.
#[derive(Debug, PartialEq, Eq)]
enum FdInfo {
    Program {
        id: u32,
        runs: Runs,
    },
    /// A raw tracepoint link: which program runs on which tracepoint.
    RawTracepoint {
        prog_id: u32,
        tracepoint: String,
    },
    Other,
}

fn parse_fdinfo(text: &str) -> FdInfo {
    let fields: HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let number = |key: &str| fields.get(key).and_then(|v| v.parse::<u64>().ok());
    if fields.get("link_type") == Some(&"raw_tracepoint")
        && let (Some(prog_id), Some(tp)) = (number("prog_id"), fields.get("tp_name"))
    {
        return FdInfo::RawTracepoint {
            prog_id: prog_id as u32,
            tracepoint: tp.to_string(),
        };
    }
    if fields.contains_key("prog_type")
        && let (Some(id), Some(run_time_ns), Some(run_cnt)) =
            (number("prog_id"), number("run_time_ns"), number("run_cnt"))
    {
        return FdInfo::Program {
            id: id as u32,
            runs: Runs {
                run_time_ns,
                run_cnt,
                recursion_misses: number("recursion_misses").unwrap_or(0),
            },
        };
    }
    FdInfo::Other
}

/// The statistics of every raw-tracepoint program process `pid` holds attached, by tracepoint
/// (the kernel truncates program names to 15 bytes; the link names the tracepoint in full).
pub(crate) fn program_runs(pid: u32) -> anyhow::Result<BTreeMap<String, Runs>> {
    let mut links = Vec::new();
    for info in fdinfos(pid)? {
        if let FdInfo::RawTracepoint {
            prog_id,
            tracepoint,
        } = info
        {
            links.push((prog_id, tracepoint));
        }
    }
    let programs = programs(pid)?;
    Ok(links
        .into_iter()
        .filter_map(|(prog_id, tp)| Some((tp, *programs.get(&prog_id)?)))
        .collect())
}

/// A tracer's programs' statistics: those on the TCP state tracepoint, and the rest (`serve
/// --metrics` also runs enetstat's interface probes, per packet).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TracerRuns {
    pub(crate) transitions: Runs,
    pub(crate) other: Runs,
}

impl TracerRuns {
    pub(crate) fn since(self, before: TracerRuns) -> TracerRuns {
        TracerRuns {
            transitions: self.transitions.since(before.transitions),
            other: self.other.since(before.other),
        }
    }

    pub(crate) fn add(&mut self, other: TracerRuns) {
        self.transitions.add(other.transitions);
        self.other.add(other.other);
    }
}

/// The statistics of every BPF program process `pid` holds, split by [`is_transition_probe`].
pub(crate) fn tracer_runs(pid: u32) -> anyhow::Result<TracerRuns> {
    let names: HashMap<u32, String> = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|info| (info.id(), info.name_as_str().unwrap_or("").to_string()))
        .collect();
    let mut total = TracerRuns::default();
    for (id, runs) in programs(pid)? {
        let name = names.get(&id).map_or("", String::as_str);
        if is_transition_probe(name) {
            total.transitions.add(runs);
        } else {
            total.other.add(runs);
        }
    }
    Ok(total)
}

/// tcpstates and bpftrace load one program each, on `inet_sock_set_state`; of enetstat's
/// (names cut to 15 bytes by the kernel), those named `enetstat_tcp_state*` (not the health
/// programs, `enetstat_tcp_retransmit*`, `enetstat_tcp_send_reset`, …).
fn is_transition_probe(name: &str) -> bool {
    !name.starts_with("enetstat_") || name.starts_with("enetstat_tcp_st")
}

/// Whether process `pid` holds a BPF program yet.
pub(crate) fn holds_program(pid: u32) -> bool {
    programs(pid).is_ok_and(|programs| !programs.is_empty())
}

/// Every BPF program `pid` holds, by id (a program open twice counts once).
fn programs(pid: u32) -> anyhow::Result<HashMap<u32, Runs>> {
    let mut programs = HashMap::new();
    for info in fdinfos(pid)? {
        if let FdInfo::Program { id, runs } = info {
            programs.insert(id, runs);
        }
    }
    Ok(programs)
}

fn fdinfos(pid: u32) -> anyhow::Result<Vec<FdInfo>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut infos = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        // An fd closed meanwhile is no BPF object of a running tracer.
        let Ok(text) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        infos.push(parse_fdinfo(&text));
    }
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_transition_probes_from_interface_probes() {
        assert!(is_transition_probe("enetstat_tcp_st"));
        assert!(is_transition_probe("handle_set_state"));
        assert!(!is_transition_probe("enetstat_net_de"));
        assert!(!is_transition_probe("enetstat_tcp_re"));
        assert!(!is_transition_probe("enetstat_sock_k"));
    }

    #[test]
    fn reads_programs_and_links_from_fdinfo() {
        let program = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\nprog_type:\t17\nprog_jited:\t1\nprog_tag:\t8a0e115a17b8e215\nmemlock:\t4096\nprog_id:\t2671\nrun_time_ns:\t5000\nrun_cnt:\t100\nrecursion_misses:\t2\nverified_insns:\t1065\n";
        assert_eq!(
            parse_fdinfo(program),
            FdInfo::Program {
                id: 2671,
                runs: Runs {
                    run_time_ns: 5000,
                    run_cnt: 100,
                    recursion_misses: 2
                }
            }
        );
        let link = "pos:\t0\nflags:\t02000000\nmnt_id:\t17\nino:\t1038\nlink_type:\traw_tracepoint\nlink_id:\t593\nprog_tag:\t8a0e115a17b8e215\nprog_id:\t2671\ntp_name:\tnet_dev_xmit\ncookie:\t0\n";
        assert_eq!(
            parse_fdinfo(link),
            FdInfo::RawTracepoint {
                prog_id: 2671,
                tracepoint: "net_dev_xmit".to_string()
            }
        );
        assert_eq!(
            parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t17\n"),
            FdInfo::Other
        );
    }
}
