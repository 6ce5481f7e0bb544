//! A graceful shutdown (a restart, a rolling deploy) fails only the calls it
//! catches, and the client reports those as UNAVAILABLE, which a caller
//! retries, never as an INTERNAL fault of the server.

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use crate::harness::TestServer;

/// Calls kept in flight on one connection while its server shuts down:
/// some are answered, some meet the GOAWAY or the closed port.
#[tokio::test]
async fn calls_caught_by_a_graceful_shutdown_are_unavailable_never_internal() {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut not_retryable = Vec::new();
    for _ in 0..3 {
        let server = TestServer::start().await;
        let mut callers = JoinSet::new();
        for _ in 0..16 {
            let client = server.admin.clone();
            callers.spawn(async move {
                // Until the first failure: a caller that saw one would
                // retry, on a new connection, which the test does not need.
                loop {
                    if let Err(error) = client.who_am_i().await {
                        return error;
                    }
                }
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(server.stop().await);
        while let Some(error) = callers.join_next().await {
            let error = error.expect("caller task");
            *outcomes.entry(format!("{:?}", error.code())).or_default() += 1;
            if !error.is_unavailable() {
                not_retryable.push(error.to_string());
            }
        }
    }
    assert!(
        not_retryable.is_empty(),
        "every call a shutdown caught is retryable; got {not_retryable:?} (all: {outcomes:?})"
    );
}
