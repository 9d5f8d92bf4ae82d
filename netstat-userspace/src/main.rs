#![allow(
    unused_crate_dependencies,
    reason = "the binary only calls the library, which uses the dependencies"
)]

fn main() -> std::process::ExitCode {
    enetstat::main()
}
