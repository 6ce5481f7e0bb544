//! accesskeyd, the CLI and the client's examples as child processes, as
//! deployments and people run them; and a hand-written HTTP GET.

use std::{net::SocketAddr, sync::Mutex};

use accesskey_client::Client;

use super::server::TestServer;

/// `accesskeyd` as a separate process, as deployments run it: for replica
/// and crash tests.
pub struct Replica {
    pub address: SocketAddr,
    child: tokio::process::Child,
    output: Output,
}

/// Everything a child process wrote to stdout and stderr.
type Output = std::sync::Arc<Mutex<Vec<u8>>>;

impl Replica {
    /// Starts `accesskeyd` on `database_url`, listening on an ephemeral port.
    pub async fn spawn(database_url: &str) -> Self {
        Self::spawn_logging(database_url, "info").await
    }

    /// Like [`spawn`](Self::spawn), with `RUST_LOG` set to `filter`.
    pub async fn spawn_logging(database_url: &str, filter: &str) -> Self {
        Self::spawn_with(database_url, filter, &[]).await
    }

    /// Like [`spawn_logging`](Self::spawn_logging), with more flags.
    pub async fn spawn_with(database_url: &str, filter: &str, flags: &[&str]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskeyd"));
        command
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .args(flags)
            .env("RUST_LOG", filter);
        Self::spawn_command(command).await
    }

    /// Like [`spawn_with`](Self::spawn_with), in a process that may open
    /// at most `descriptors` files (`ulimit -n`, through `sh`, which then
    /// becomes the server).
    pub async fn spawn_with_descriptors(
        database_url: &str,
        flags: &[&str],
        descriptors: u32,
    ) -> Self {
        let mut command = tokio::process::Command::new("sh");
        command
            .args([
                "-c",
                &format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""),
                env!("CARGO_BIN_EXE_e2e-accesskeyd"),
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(flags)
            .env("RUST_LOG", "info");
        Self::spawn_command(command).await
    }

    /// The process's CPU time so far, user and system (Linux's `/proc`).
    pub fn cpu_time(&self) -> std::time::Duration {
        let pid = self.child.id().expect("running");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
        // Fields after the command name (which may hold spaces): utime is
        // the 12th of them, stime the 13th, in clock ticks (100 a second).
        let after_name = stat.rsplit_once(')').expect("a stat line").1;
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|field| field.parse().expect("ticks"))
            .collect();
        std::time::Duration::from_millis(fields.iter().sum::<u64>() * 10)
    }

    async fn spawn_command(command: tokio::process::Command) -> Self {
        let output = Output::default();
        // The server announces itself on stderr: "… accesskeyd listening
        // address=IP:PORT …", or in JSON `…"address":"IP:PORT"…`.
        let (child, address) = spawn_announcing(
            command,
            Announces::OnStderr,
            |line| {
                if !line.contains("accesskeyd listening") {
                    return None;
                }
                match line.split("address=").nth(1) {
                    Some(rest) => rest.split_whitespace().next(),
                    None => line.split("\"address\":\"").nth(1)?.split('"').next(),
                }
            },
            Some(output.clone()),
        )
        .await;
        Self {
            address,
            child,
            output,
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> Vec<u8> {
        self.output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The address the replica announced in its `"{what} listening"` log
    /// line (`what`: `metrics`, `console`).
    pub async fn announced(&self, what: &str) -> SocketAddr {
        let marker = format!("{what} listening");
        super::eventually(
            std::time::Duration::from_secs(10),
            &format!("the {what} address"),
            || async {
                let output = String::from_utf8_lossy(&self.output()).into_owned();
                output
                    .lines()
                    .find(|line| line.contains(&marker))
                    .and_then(|line| line.split("address=").nth(1))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|address| address.parse().ok())
                    .ok_or(output)
            },
        )
        .await
    }

    /// A client of this replica presenting `key`.
    pub async fn client(&self, key: &str) -> Client {
        Client::builder(format!("http://{}", self.address))
            .access_key(key)
            .connect()
            .await
            .expect("connect to the replica")
    }

    /// SIGTERM, then waits for a graceful exit (which must be a success).
    pub async fn terminate(&mut self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s")
            .expect("wait");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    }

    /// SIGKILL: no shutdown, no flush, exactly like a crash.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill accesskeyd");
    }
}

#[derive(Clone, Copy)]
enum Announces {
    OnStdout,
    OnStderr,
}

/// Spawns `command` and waits (30 s at most) for the line from which `find`
/// extracts its listening address; keeps draining the output afterwards so
/// the child never blocks on a full pipe. With `record`, both stdout and
/// stderr are kept there, whole.
async fn spawn_announcing(
    mut command: tokio::process::Command,
    stream: Announces,
    find: impl Fn(&str) -> Option<&str>,
    record: Option<Output>,
) -> (tokio::process::Child, SocketAddr) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};

    let (stdout, stderr) = match (stream, &record) {
        (_, Some(_)) => (Stdio::piped(), Stdio::piped()),
        (Announces::OnStdout, None) => (Stdio::piped(), Stdio::inherit()),
        (Announces::OnStderr, None) => (Stdio::null(), Stdio::piped()),
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start the process");
    let output: Box<dyn AsyncRead + Unpin + Send> = match stream {
        Announces::OnStdout => Box::new(child.stdout.take().expect("piped stdout")),
        Announces::OnStderr => Box::new(child.stderr.take().expect("piped stderr")),
    };
    // The stream that does not announce, if piped, is recorded as it comes.
    let other: Option<Box<dyn AsyncRead + Unpin + Send>> = match stream {
        Announces::OnStdout => child.stderr.take().map(|s| Box::new(s) as _),
        Announces::OnStderr => child.stdout.take().map(|s| Box::new(s) as _),
    };
    if let (Some(mut other), Some(record)) = (other, record.clone()) {
        tokio::spawn(async move {
            let mut buffer = [0u8; 8192];
            while let Ok(read) = other.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&buffer[..read]);
            }
        });
    }
    let mut lines = BufReader::new(output).lines();
    let mut seen = Vec::new();
    let address = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the process announces its address within 30 s")
            .expect("read its output")
            .unwrap_or_else(|| panic!("the process exited before listening:\n{}", seen.join("\n")));
        record_line(record.as_ref(), &line);
        if let Some(address) = find(&line) {
            break address.parse().expect("a socket address");
        }
        seen.push(line);
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            record_line(record.as_ref(), &line);
        }
    });
    (child, address)
}

/// Appends `line` to `record`, if the output is being recorded.
fn record_line(record: Option<&Output>, line: &str) {
    if let Some(record) = record {
        let mut record = record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
    }
}

/// One of the client crate's example services, as a process.
pub struct Example {
    pub address: SocketAddr,
    _child: tokio::process::Child,
}

impl Example {
    /// Runs `target/…/examples/<name>` against accesskey at `endpoint`,
    /// presenting `service_key`. `cargo test` builds the examples.
    pub async fn spawn(name: &str, endpoint: &str, service_key: &str) -> Self {
        let deps = std::env::current_exe().expect("test binary path");
        let program = deps
            .parent()
            .and_then(std::path::Path::parent)
            .expect("target profile directory")
            .join("examples")
            .join(name);
        assert!(
            program.exists(),
            "{} is missing: run `cargo build --examples`",
            program.display()
        );
        let mut command = tokio::process::Command::new(program);
        command
            .env("ACCESSKEY_ENDPOINT", endpoint)
            .env("ACCESSKEY_KEY", service_key)
            .env("LISTEN", "127.0.0.1:0");
        let (child, address) = spawn_announcing(
            command,
            Announces::OnStdout,
            |line| line.strip_prefix("listening on http://"),
            None,
        )
        .await;
        Self {
            address,
            _child: child,
        }
    }
}

/// What an HTTP request got back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// A plain HTTP/1.1 GET, written by hand so the tests need no HTTP client.
pub async fn http_get(address: &SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("receive");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    HttpResponse { status, body }
}

/// What a CLI run printed and how it exited.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `accesskey` CLI against `server` with `key` in ACCESSKEY_KEY.
pub async fn run_cli(
    server: &TestServer,
    key: &str,
    args: &[&str],
    stdin: Option<String>,
) -> CliRun {
    run_cli_at(&server.endpoint(), key, args, stdin).await
}

/// Runs the `accesskey` CLI against `endpoint`, feeding `stdin` if given.
pub async fn run_cli_at(endpoint: &str, key: &str, args: &[&str], stdin: Option<String>) -> CliRun {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt as _;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskey"))
        .args(args)
        .env("ACCESSKEY_ENDPOINT", endpoint)
        .env("ACCESSKEY_KEY", key)
        .env_remove("ACCESSKEY_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run accesskey");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let output = child.wait_with_output().await.expect("accesskey exits");
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `accesskeyd` with `args` to completion (for subcommands).
pub async fn run_accesskeyd(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskeyd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run accesskeyd")
}
