//! accesskey-bench: seeds a fresh database, runs the real accesskeyd as a
//! child process and measures it over gRPC. BENCHMARKS.md says how to run
//! it and what each scenario measures.
//!
//! This file holds the command line and the run from seeding to report;
//! the scenarios themselves are in [`scenarios`].

mod database;
mod load;
mod ops;
mod options;
mod report;
mod scenarios;
mod seed;
mod server;

use std::{process::ExitCode, sync::atomic::Ordering};

use clap::Parser as _;

use database::Database;
use options::Options;
use scenarios::Bench;
use server::ServerProcess;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    // The benchmark starts the server by running itself again in this role.
    if std::env::var_os(server::ROLE_VARIABLE).is_some() {
        return accesskey_server::cli::main();
    }
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("accesskey-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("accesskey-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), BoxError> {
    let database = Database::prepare(options.database_url.as_deref())?;
    eprintln!(
        "seeding {} users, the caller and {} flood targets into a fresh {} database…",
        options.users, options.flood_targets, database.backend
    );
    let peppered = options
        .server_args
        .iter()
        .any(|arg| arg.starts_with("--pepper-file"));
    let role_holders = options
        .selected()
        .contains(&options::Scenario::WarmVerifyRoles);
    let seeded = seed::seed(
        &database.url,
        options.users,
        options.flood_targets,
        peppered,
        role_holders,
    )
    .await?;
    eprintln!("seeded in {:.2} s", seeded.elapsed.as_secs_f64());

    let mut server =
        tokio::task::block_in_place(|| ServerProcess::start(&database.url, &options.server_args))?;
    eprintln!(
        "accesskeyd (pid {}) listening on {}",
        server.pid(),
        server.address
    );
    let measured = async {
        let mut bench = Bench::connect(&options, &database, &seeded, &server).await?;
        bench.run_all().await?;
        Ok::<_, BoxError>(bench.report)
    }
    .await;
    let peak_rss_kib = server.peak_rss_kib();
    let stopped = tokio::task::block_in_place(|| server.stop());
    if measured.is_err() {
        eprintln!("accesskeyd's last log lines:");
        for line in server.log.recent() {
            eprintln!("  {line}");
        }
    }
    let mut report = measured?;
    report
        .preparation
        .insert(0, ("seeding".to_owned(), seeded.elapsed));
    report.peak_rss_kib = peak_rss_kib;
    report.server_warnings = server.log.warnings.load(Ordering::Relaxed);
    report.last_server_warnings = server.log.recent_warnings();
    report.settings = settings(&options, &database);

    println!("{}", report.to_text());
    if let Some(path) = &options.json {
        std::fs::write(path, report.to_json())?;
        eprintln!("wrote {}", path.display());
    }
    stopped
}

fn settings(options: &Options, database: &Database) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("N", options.users.to_string()),
        ("C", options.concurrency.to_string()),
        ("M", options.connections.to_string()),
        ("D", format!("{}s", options.duration)),
        ("K", options.cold_keys.to_string()),
        ("attackers", options.attackers.to_string()),
        ("flood_targets", options.flood_targets.to_string()),
        ("flood_rate", options.flood_rate.to_string()),
        ("backend", database.backend.to_owned()),
        (
            "cores",
            std::thread::available_parallelism()
                .map_or(0, usize::from)
                .to_string(),
        ),
        (
            "commit",
            report::git_commit().unwrap_or_else(|| "unknown".to_owned()),
        ),
    ];
    if !options.server_args.is_empty() {
        settings.push(("server_args", options.server_args.join(" ")));
    }
    settings
}
