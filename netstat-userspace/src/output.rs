//! Standard output for streams and tables: buffered, and quiet when the reader goes away.

use std::io;

/// Whether an error (or anything in its chain) is a closed pipe, which ends the program quietly
/// with exit status 0, as `| head` expects.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// A large buffer: the stream is written in batches and flushed once per batch.
pub(crate) fn stdout() -> io::BufWriter<io::Stdout> {
    io::BufWriter::with_capacity(1 << 16, io::stdout())
}

/// Larger still for the event streams: a batch of records (up to a few thousand lines) leaves in
/// one write.
pub(crate) fn stream_stdout() -> io::BufWriter<io::Stdout> {
    io::BufWriter::with_capacity(1 << 20, io::stdout())
}
