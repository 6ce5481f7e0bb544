//! `accesskey`: the admin CLI; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    accesskey_client::cli::main()
}
