//! `accesskeyd`: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    accesskey_server::cli::main()
}
