fn main() -> std::process::ExitCode {
    enetstat::main()
}
