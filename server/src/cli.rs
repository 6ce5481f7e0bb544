//! The `accesskeyd` command line: flags, subcommands, logging, signals.
//! Kept in the library so that test harnesses can run the very same binary.

use std::{
    fs::OpenOptions,
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    process::ExitCode,
};

use crate::{
    Config, ConfigError, ServerError,
    config::LogFormat,
    domain::{DomainError, Refusal, model::Username},
    error_chain::ErrorChain,
    healthcheck::Healthcheck,
};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The accesskey gRPC server.
#[derive(Debug, Parser)]
#[command(name = "accesskeyd", version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// On an empty database, create the first admin (all five service
    /// permissions) and print its access key once.
    Bootstrap {
        /// The admin's username.
        #[arg(long, default_value = "admin")]
        username: String,
        /// Write the key to this new file (mode 0600) instead of stdout.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Replace the key of an existing user instead (for a lost admin key).
        #[arg(long)]
        reissue: bool,
        /// With --reissue: also re-enable the user and give it every service
        /// permission (when no administrator is left to do it).
        #[arg(long, requires = "reissue")]
        restore_admin: bool,
    },
    /// Ask a running accesskeyd whether it serves (its grpc.health.v1
    /// status): exit 0 if SERVING, 1 otherwise, for a service manager.
    Healthcheck(Healthcheck),
}

/// Runs `accesskeyd` with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // The current span (the request: its id and method) on every line;
        // not the whole list, which is that one span again.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("accesskeyd: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `error: …`, then one `  caused by: …` line per cause.
            eprintln!("accesskeyd: {:#}", ErrorChain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), ServerError> {
    let Cli { config, command } = cli;
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = crate::serving::listen("--listen", config.listen).await?;
            crate::run(config, listener, shutdown_signal()).await
        }
        Command::Migrate => {
            let config = Config {
                auto_migrate: true,
                ..config
            };
            crate::open(&config).await?;
            eprintln!("accesskeyd: the database schema is up to date");
            Ok(())
        }
        Command::Bootstrap {
            username,
            key_file,
            reissue,
            restore_admin,
        } => bootstrap(&config, &username, key_file, reissue, restore_admin)
            .await
            .map_err(|error| match error {
                ServerError::Domain(refused) => ServerError::BootstrapRefused(refused),
                other => other,
            }),
        Command::Healthcheck(check) => Ok(check.run(&config).await?),
    }
}

async fn bootstrap(
    config: &Config,
    username: &str,
    key_file: Option<PathBuf>,
    reissue: bool,
    restore_admin: bool,
) -> Result<(), ServerError> {
    let username = Username::parse("--username", username).map_err(ConfigError::Username)?;
    // Replacing a key behind a running server's back would leave that
    // server trusting the old one: refuse while one serves this SQLite file.
    let _exclusive = if reissue {
        crate::store::ExclusiveUse::acquire(&config.database_url)?
    } else {
        None
    };
    let (store, directory) = crate::open(config).await?;
    let key = if reissue {
        directory
            .reissue_bootstrap_key(&username, restore_admin)
            .await?
    } else {
        directory.bootstrap(username.clone()).await?
    };
    store.close().await?;
    let plaintext = key.expose_plaintext();
    match key_file {
        Some(path) => {
            write_private_file(&path, &plaintext).map_err(|source| ServerError::Write {
                path: path.clone(),
                source,
            })?;
            eprintln!(
                "accesskeyd: the access key of `{}` is in {} (mode 0600). It is shown nowhere else.",
                username.as_str(),
                path.display()
            );
        }
        None => {
            println!("{plaintext}");
            eprintln!(
                "accesskeyd: above is the access key of `{}`. Store it now: it will not be shown again.",
                username.as_str()
            );
        }
    }
    Ok(())
}

/// A refused bootstrap, in the words of the command line (its flags), not
/// of the gRPC API.
pub(crate) fn worded_for_the_host(error: &DomainError) -> String {
    match error {
        DomainError::Refused(Refusal::AlreadyBootstrapped) => {
            "the database already has users; bootstrap runs only on an empty database \
             (use `bootstrap --reissue` to replace the bootstrap admin's lost key)"
                .to_owned()
        }
        DomainError::Refused(Refusal::ReissueForDisabledUser) => {
            "the user is disabled; add --restore-admin to re-enable it (and give it every \
             service permission)"
                .to_owned()
        }
        DomainError::Refused(Refusal::ExternalUserCannotHoldKey { provider }) => format!(
            "--username: users from an external identity provider ({provider}) cannot have an \
             access key"
        ),
        DomainError::NotFound(_) => "--username: no such user".to_owned(),
        other => ErrorChain(other).to_string(),
    }
}

/// Creates `path` (never overwriting) readable by its owner only.
fn write_private_file(path: &PathBuf, contents: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
