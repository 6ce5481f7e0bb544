//! What `accesskeyd` prints when it cannot start: the error, then one
//! `caused by:` line per cause, each said once, naming the database by its
//! URL without credentials.

use crate::harness::run_accesskeyd;

/// `stderr`'s lines, checked for the shape every startup error has.
pub fn error_chain(output: &std::process::Output) -> Vec<String> {
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<String> = stderr
        .lines()
        .skip_while(|line| !line.starts_with("accesskeyd: error: "))
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty(), "no `error:` line: {stderr}");
    assert!(
        lines[1..]
            .iter()
            .all(|line| line.starts_with("  caused by: ")),
        "every further line is a cause: {stderr}"
    );
    lines
}

/// How many times `needle` occurs in `lines`.
pub fn occurrences(lines: &[String], needle: &str) -> usize {
    lines.iter().map(|line| line.matches(needle).count()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_named_with_why() {
    for url in [
        "postgres://accesskey:s3cret@127.0.0.1:1/accesskey",
        "mysql://accesskey:s3cret@127.0.0.1:1/accesskey",
    ] {
        let refused = run_accesskeyd(&[
            "--database-url",
            url,
            "--db-acquire-timeout-ms",
            "300",
            "migrate",
        ])
        .await;
        let lines = error_chain(&refused);
        let scheme = &url[..url.find("://").expect("a scheme")];
        assert_eq!(
            lines[0],
            format!(
                "accesskeyd: error: cannot open the database {scheme}://***@127.0.0.1:1/accesskey"
            ),
            "{lines:#?}"
        );
        // What the pool's timeout hid, said once.
        assert_eq!(occurrences(&lines, "Connection refused"), 1, "{lines:#?}");
        assert_eq!(occurrences(&lines, "s3cret"), 0, "{lines:#?}");
    }
}

#[tokio::test]
async fn a_configuration_error_names_its_flag_and_cause() {
    let missing = run_accesskeyd(&[
        "--database-url",
        "sqlite::memory:",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ])
    .await;
    let lines = error_chain(&missing);
    assert_eq!(
        lines,
        [
            "accesskeyd: error: cannot read --tls-cert /nonexistent/cert.pem",
            "  caused by: No such file or directory (os error 2)",
        ],
    );
}
