//! The `accesskey` admin CLI itself, so the end-to-end tests can run it.

fn main() -> std::process::ExitCode {
    accesskey_client::cli::main()
}
