//! What the clap definitions give besides parsing: shell completions and man pages, so both
//! always match the options the binary takes.

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

use clap::CommandFactory as _;
use clap_complete::Shell;
use clap_mangen::Man;

use super::RawArgs;

/// The whole command line, as clap knows it.
pub(crate) fn command() -> clap::Command {
    RawArgs::command()
}

/// The command line as completion scripts offer it: the same, less hidden subcommands, which
/// clap_complete would offer like any other.
fn completable() -> clap::Command {
    let full = command();
    clap::Command::new("enetstat")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// `enetstat completions SHELL`.
pub(crate) fn write_completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    // Rendered in memory first: clap_complete panics on a write error, such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut completable(), "enetstat", &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// The man pages' section: netstat's.
const SECTION: &str = "8";

/// The top page's sections that the options cannot tell, in roff.
const DESCRIPTION: &str = r#".SH DESCRIPTION
\fBenetstat\fR takes net\-tools \fBnetstat\fR(8)'s options and prints the same bytes, read from
sock_diag and /proc; a daemon (\fBenetstat serve\fR) can answer the same views from a live table kept
by an eBPF probe on the \fIsock:inet_sock_set_state\fR tracepoint. \fBenetstat watch\fR and
\fBenetstat \-c\fR print every TCP state transition as it happens, rather than polling.
.PP
Output into a pipe or a file is netstat's, byte for byte. On a terminal, TCP states are coloured
(\fB\-\-color\fR).
.PP
With \fB\-\-netns\fR \fISPEC\fR (\fBall\fR, an \fBip netns\fR name, a path, a PID or a namespace
inode), a view covers other network namespaces: one netstat section per namespace, each after a
line \fBNetwork namespace\fR \fIINODE\fR (\fINAME\fR), read inside that namespace; JSON objects gain
\fB"netns":{"inode":\fR\fIN\fR\fB,"name":\fR...\fB}\fR. The daemon follows every namespace on the host.
"#;

const EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set and not empty, \fB\-\-color auto\fR does not colour (\fB\-\-color always\fR still does).
.TP
\fBTERM\fR
\fBdumb\fR turns \fB\-\-color auto\fR off.
.TP
\fBJOURNAL_STREAM\fR
Set by systemd: when it names standard error, the daemon's log lines carry syslog priority
prefixes (\fB<3>\fR, \fB<4>\fR, \fB<6>\fR, \fB<7>\fR) for the journal, instead of \fBenetstat:\fR.
.TP
\fBENETSTAT_LOG\fR
The least severe log level printed: \fBerror\fR, \fBwarn\fR, \fBinfo\fR (the default),
\fBdebug\fR or \fBoff\fR.
.SH SIGNALS
.TP
\fBSIGINT\fR, \fBSIGTERM\fR
\fBwatch\fR, \fB\-c\fR and \fBserve\fR stop: events already read are handled, the probes are
detached, the daemon's socket file is removed, exit status 0.
.TP
\fBSIGHUP\fR
\fBwatch\fR and \fB\-c\fR stop as at \fBSIGINT\fR. \fBserve\fR re\-reads the kernel's socket
tables and replaces its live table (a resync, counted in \fBenetstat status\fR), and goes on.
.TP
\fBSIGKILL\fR
Cannot be handled. On the classic tracepoint (kernels without BTF), if it lands while the daemon
reads /proc/net/tcp, \fBkptr_restrict\fR stays 1.
.SH FILES
.TP
\fI/run/enetstat/enetstat.sock\fR
The daemon's control socket (mode 0600 in a 0700 directory; only root is answered).
.TP
\fI/run/netns\fR, \fI/proc/*/ns/net\fR, nsfs mounts in \fI/proc/self/mountinfo\fR
Where network namespaces are found for \fB\-\-netns all\fR and by the daemon.
.TP
\fI/sys/kernel/tracing\fR
Where tracefs is mounted when no tracefs is found, to attach the classic tracepoint (only on
kernels without BTF).
.TP
\fI/proc/sys/kernel/kptr_restrict\fR
On the classic tracepoint only: set from 0 to 1 by the daemon while it reads /proc/net/tcp, then
restored. On the BTF tracepoint the daemon matches sockets by cookie and leaves it alone.
.SH EXIT STATUS
0 on success (and when standard output is closed), 1 on errors, 2 on usage errors.
.SH SEE ALSO
\fBnetstat\fR(8), \fBss\fR(8), \fBenetstat\-watch\fR(8), \fBenetstat\-serve\fR(8),
\fBenetstat\-status\fR(8)
"#;

fn man(cmd: clap::Command) -> Man {
    let version = cmd.get_version().unwrap_or_default().to_string();
    Man::new(cmd)
        .section(SECTION)
        .source(format!("enetstat {version}"))
}

/// The top page, `enetstat.8`.
pub(crate) fn write_man_page(out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    let page = man(cmd);
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    out.write_all(DESCRIPTION.as_bytes())?;
    page.render_options_section(out)?;
    page.render_subcommands_section(out)?;
    out.write_all(EXTRA.as_bytes())?;
    page.render_version_section(out)
}

/// `enetstat.8` and one page per visible subcommand (`enetstat-watch.8`, ...) in `dir`;
/// returns the files written.
pub(crate) fn write_man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let top = dir.join(man(cmd.clone()).get_filename());
    let mut file = io::BufWriter::new(std::fs::File::create(&top)?);
    write_man_page(&mut file)?;
    file.flush()?;
    written.push(top);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(man(sub.clone()).generate_to(dir)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
