//! accesskeyd itself, so the end-to-end tests can run it as a real process.

fn main() -> std::process::ExitCode {
    accesskey_server::cli::main()
}
