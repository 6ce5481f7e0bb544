//! Every log line the in-process servers write, kept so tests can check
//! that no secret reaches a log.

use std::{
    io::Write,
    sync::{Mutex, OnceLock},
};

/// Every log line every in-process server wrote, at trace level, so tests can
/// check that no secret ever reaches a log.
static CAPTURED_LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED_LOGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "trace,h2=debug,hyper=debug,hyper_util=debug,tower=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| CaptureWriter)
            .try_init();
    });
}

/// Everything logged so far by any server in this test binary.
pub fn captured_logs() -> String {
    let logs = CAPTURED_LOGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&logs).into_owned()
}
