//! The real accesskeyd as a child process: this very binary re-executed in
//! the server role, so the benchmark always measures the server it was
//! built with, and measures it in a process of its own (own RSS, own
//! runtime, nothing shared with the load generator but the CPU).

use std::{
    collections::VecDeque,
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use accesskey_server::testing::secret_hash::ARGON2_LOG_TARGET;

use crate::BoxError;

/// The environment variable that makes this binary run as accesskeyd.
pub(crate) const ROLE_VARIABLE: &str = "ACCESSKEY_BENCH_ROLE";
pub(crate) const SERVER_ROLE: &str = "server";

/// Migrations on a remote PostgreSQL are already done by the benchmark, so
/// start-up is quick; this only bounds a server that hangs.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// A graceful stop flushes `last_used_time` for every used key in one
/// transaction, which for a million keys takes a while.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Log lines kept for the error message when the server fails.
const KEPT_LINES: usize = 20;

/// What the server wrote to stderr, summarised.
#[derive(Debug, Default)]
pub(crate) struct LogSummary {
    pub(crate) lines: AtomicU64,
    /// argon2 verifications the server ran (one debug line each).
    pub(crate) argon2_verifications: AtomicU64,
    /// WARN and ERROR lines: the server's own account of trouble.
    pub(crate) warnings: AtomicU64,
    pub(crate) last_lines: Mutex<VecDeque<String>>,
    pub(crate) last_warnings: Mutex<VecDeque<String>>,
}

impl LogSummary {
    fn note(&self, line: &str) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        if line.contains(ARGON2_LOG_TARGET) {
            self.argon2_verifications.fetch_add(1, Ordering::Relaxed);
            return;
        }
        keep(&self.last_lines, line);
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            self.warnings.fetch_add(1, Ordering::Relaxed);
            keep(&self.last_warnings, line);
        }
    }

    pub(crate) fn recent(&self) -> Vec<String> {
        lock(&self.last_lines).iter().cloned().collect()
    }

    pub(crate) fn recent_warnings(&self) -> Vec<String> {
        lock(&self.last_warnings).iter().cloned().collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn keep(lines: &Mutex<VecDeque<String>>, line: &str) {
    let mut lines = lock(lines);
    if lines.len() == KEPT_LINES {
        lines.pop_front();
    }
    lines.push_back(line.to_owned());
}

/// A running accesskeyd; stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) address: SocketAddr,
    pub(crate) log: Arc<LogSummary>,
}

impl ServerProcess {
    /// Starts accesskeyd on `database_url`, listening on an ephemeral
    /// loopback port, and waits until it announces its address.
    pub(crate) fn start(database_url: &str, extra_args: &[String]) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE_VARIABLE, SERVER_ROLE)
            // One debug line per argon2 verification, to count them.
            .env("RUST_LOG", format!("info,{ARGON2_LOG_TARGET}=debug"))
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or("the server's stderr was not captured")?;
        let log = Arc::new(LogSummary::default());
        let (announced, announcement) = mpsc::channel();
        let summary = Arc::clone(&log);
        // Drained for the server's whole life: a full pipe would block its
        // logging, and with it whichever request is logging.
        thread::spawn(move || {
            let mut announced = Some(announced);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                summary.note(&line);
                if line.contains("accesskeyd listening")
                    && let Some(address) = listening_address(&line)
                    && let Some(sender) = announced.take()
                {
                    let _ = sender.send(address);
                }
            }
        });
        let mut server = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let waited = Instant::now();
        loop {
            match announcement.recv_timeout(Duration::from_millis(100)) {
                Ok(address) => {
                    server.address = address;
                    return Ok(server);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if waited.elapsed() < STARTUP_TIMEOUT => {
                    if let Some(status) = server.child.try_wait()? {
                        return Err(server.failure(&format!("accesskeyd exited ({status})")));
                    }
                }
                Err(_) => {
                    return Err(server.failure("accesskeyd did not announce its address"));
                }
            }
        }
    }

    fn failure(&self, what: &str) -> BoxError {
        // Give the drain thread a moment to read the server's last words.
        thread::sleep(Duration::from_millis(200));
        let recent = self.log.recent().join("\n  ");
        format!("{what}; its last log lines:\n  {recent}").into()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory (VmHWM), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Current resident memory (VmRSS), in KiB.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// CPU time the server has used so far, user and system, all threads.
    /// With client and server on one machine, this is what tells the
    /// server's cost per request apart from the load generator's.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields follow the command name, which is in parentheses and may
        // itself contain spaces; utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(
            ticks as f64 / clock_ticks_per_second() as f64,
        ))
    }

    /// SIGTERM, so that the server flushes key uses and closes the database
    /// as in production; SIGKILL if it does not stop in time.
    pub(crate) fn stop(&mut self) -> Result<(), BoxError> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let asked = Instant::now();
        while asked.elapsed() < STOP_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(self.failure(&format!("accesskeyd stopped with {status}")))
                };
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Err(format!("accesskeyd did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed").into())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `address=IP:PORT` field of the server's "accesskeyd listening" line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    line.split("address=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The unit of /proc/<pid>/stat times; 100 on every common Linux, asked
/// of `getconf` in case this one differs.
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks| ticks > 0)
            .unwrap_or(100)
    })
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_from_the_announcement() {
        let line = "2026-11-26T10:00:00.000000Z  INFO accesskey_server: accesskeyd listening \
                    address=127.0.0.1:41234 tls=false reflection=true";
        assert_eq!(
            listening_address(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 41234)))
        );
        assert_eq!(listening_address("accesskeyd listening"), None);
    }
}
