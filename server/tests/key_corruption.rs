//! Property: no corruption of a genuine key is ever accepted as that key.
//!
//! Random combinations of substitutions (including homoglyphs and
//! whitespace), insertions, deletions, transpositions, truncation, case
//! flips and appended whitespace are applied to a real key issued by a real
//! [`Directory`] over a SQLite file. Half of the corrupted strings then get
//! a freshly computed, *valid* checksum, as a deliberate forger would give
//! them. Each must either fail to parse, or parse as a different key that
//! the directory answers `NOT_FOUND` for (never VALID, and never a verdict
//! that implies its secret matched).

use accesskey_server::{
    Config,
    testing::{
        Directory, Verdict,
        key_format::{AccessKey, CHECKSUM_LEN, KEY_LEN},
        model::{PermissionSet, Username},
    },
};
use proptest::{
    prelude::*,
    test_runner::{Config as RunnerConfig, TestCaseError, TestRunner},
};

/// One edit of a key, at a position taken modulo its current length.
#[derive(Debug, Clone)]
enum Edit {
    Substitute(usize, char),
    Insert(usize, char),
    Delete(usize),
    Transpose(usize),
    Truncate(usize),
    FlipCase(usize),
    AppendWhitespace(&'static str),
}

/// Characters a corruption may bring in: the key alphabet, separators and
/// whitespace, and look-alikes from other scripts.
const FOREIGN: &[char] = &[
    '_', '-', '.', ' ', '\t', '\n', '\r', '\0', '%', '+', '/', '=', 'é', 'а', 'е', 'о', 'Ｏ', '０',
    'ǀ', '\u{200b}', '\u{202e}',
];

fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::ranges(vec!['0'..='9', 'A'..='Z', 'a'..='z'].into()),
        prop::sample::select(FOREIGN),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), character()).prop_map(|(at, c)| Edit::Substitute(at, c)),
        (any::<usize>(), character()).prop_map(|(at, c)| Edit::Insert(at, c)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Transpose),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::FlipCase),
        prop::sample::select(&[" ", "\n", "\r\n", "\t", "\u{a0}"][..])
            .prop_map(Edit::AppendWhitespace),
    ]
}

fn apply(key: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match *edit {
            Edit::Substitute(at, c) if !chars.is_empty() => chars[at % len] = c,
            Edit::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Edit::Delete(at) if !chars.is_empty() => {
                chars.remove(at % len);
            }
            Edit::Transpose(at) if chars.len() >= 2 => {
                chars.swap(at % (len - 1), at % (len - 1) + 1)
            }
            Edit::Truncate(at) => chars.truncate(at % len),
            Edit::FlipCase(at) if !chars.is_empty() => {
                let c = chars[at % len];
                chars[at % len] = if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                };
            }
            Edit::AppendWhitespace(space) => chars.extend(space.chars()),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// `text` with its last six characters replaced by the correct checksum of
/// the rest, when it has a key's length: what a forger who read the format
/// would do. Computed here independently of the server's code.
fn with_valid_checksum(text: &str) -> String {
    if text.len() != KEY_LEN || !text.is_ascii() {
        return text.to_owned();
    }
    let body = &text.as_bytes()[..KEY_LEN - CHECKSUM_LEN];
    let mut crc = !0u32;
    for &byte in body {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    let mut value = !crc;
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = alphabet[(value % 62) as usize];
        value /= 62;
    }
    let mut forged = String::from_utf8_lossy(body).into_owned();
    forged.push_str(&String::from_utf8_lossy(&digits));
    forged
}

#[test]
fn no_corruption_of_a_genuine_key_is_accepted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config::for_database(format!(
        "sqlite://{}",
        dir.path().join("accesskey.db").display()
    ));
    // Wrong secrets for the one key id are the point here: never throttle.
    config.failed_attempts_burst = u32::MAX;
    let (directory, genuine): (Directory, String) = runtime.block_on(async {
        let (_store, directory) = accesskey_server::open(&config).await.expect("open");
        let key = directory
            .bootstrap(Username::parse("username", "admin").expect("valid name"))
            .await
            .expect("bootstrap")
            .expose_plaintext();
        (directory, key)
    });
    let nothing_required = PermissionSet::default();
    let verify = |presented: &str| {
        runtime
            .block_on(directory.verify(presented, &nothing_required))
            .expect("an answer, not an error")
    };
    assert!(
        matches!(verify(&genuine), Verdict::Valid(_)),
        "the genuine key verifies"
    );
    let genuine_parsed = AccessKey::parse(&genuine).expect("genuine parses");
    assert!(
        with_valid_checksum(&genuine) == genuine,
        "the forger's checksum is the real one"
    );

    let mut runner = TestRunner::new(RunnerConfig {
        cases: 512,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let corruption = (prop::collection::vec(edit(), 1..5), any::<bool>());
    // How many corrupted keys reached argon2 (well-formed, the genuine key
    // id, another secret): the path where a mistake would let one through.
    let wrong_secrets = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&corruption, |(edits, forge_checksum)| {
        let mut presented = apply(&genuine, &edits);
        if forge_checksum {
            presented = with_valid_checksum(&presented);
        }
        if presented == genuine {
            // An edit that changed nothing (a swap of equal characters, a
            // case flip of a digit, a substitution by the same character).
            return Ok(());
        }
        // Never print `presented` or `genuine`: they are (near-)secrets.
        if let Ok(parsed) = AccessKey::parse(&presented) {
            prop_assert!(
                parsed != genuine_parsed,
                "a different string parsed as the genuine key"
            );
            if parsed.key_id() == genuine_parsed.key_id() {
                wrong_secrets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        match verify(&presented) {
            Verdict::Malformed(_) | Verdict::NotFound => Ok(()),
            Verdict::Valid(_) => Err(TestCaseError::fail("a corrupted key verified as VALID")),
            _ => Err(TestCaseError::fail(
                "a corrupted key got a verdict reserved for a matching secret",
            )),
        }
    });
    // The runner's report includes the failing input; report only that it failed.
    assert!(result.is_ok(), "a corruption of a genuine key was accepted");
    let wrong_secrets = wrong_secrets.into_inner();
    assert!(
        wrong_secrets >= 10,
        "too few corruptions reached the secret check to mean anything: {wrong_secrets}"
    );
    assert!(
        matches!(verify(&genuine), Verdict::Valid(_)),
        "the genuine key still verifies"
    );
}
