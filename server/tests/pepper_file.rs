//! A pepper file that is text ending in a line break: refused unless told
//! what the line break means, because a replica whose file lacks it (or an
//! editor that drops it) would reject every key without saying why.

use accesskey_server::{Config, PepperLineBreak, testing::model::Username};

const TEXT: &[u8] = b"5f0c2b9e7a1d4c3b8e6f0a2d9c7b1e4a";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn pepper(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write the pepper");
        path
    }

    fn config(&self, pepper: std::path::PathBuf, line_break: PepperLineBreak) -> Config {
        let url = format!(
            "sqlite://{}",
            self.dir.path().join("accesskey.db").display()
        );
        let mut config = Config::for_database(url);
        config.pepper_file = Some(pepper);
        config.pepper_line_break = line_break;
        config
    }
}

/// Whether `key` authenticates on a server started with `config`.
async fn authenticates(config: &Config, key: &str) -> bool {
    let (store, directory) = accesskey_server::open(config).await.expect("open");
    let authenticated = directory.authenticate(key).await.is_ok();
    drop(directory);
    store.close().await.expect("close");
    authenticated
}

#[tokio::test]
async fn a_text_pepper_ending_in_a_line_break_is_refused_unless_told_what_it_means() {
    let files = Files::new();
    let with_newline = [TEXT, b"\n"].concat();
    let text_file = files.pepper("pepper.txt", &with_newline);

    for line_break in [b"\n".as_slice(), b"\r\n"] {
        let file = files.pepper("refused", &[TEXT, line_break].concat());
        let refused = accesskey_server::open(&files.config(file, PepperLineBreak::Refuse))
            .await
            .map(|_| ())
            .expect_err("refused");
        let message = refused.to_string();
        assert!(
            message.contains("line break") && message.contains("--pepper-line-break"),
            "{message}"
        );
        assert!(
            !message.contains(std::str::from_utf8(TEXT).expect("text")),
            "the pepper is never printed: {message}"
        );
    }

    // Stripped, the pepper is the text alone: a file without the line
    // break verifies the same keys.
    let (store, directory) =
        accesskey_server::open(&files.config(text_file.clone(), PepperLineBreak::Strip))
            .await
            .expect("open");
    let key = directory
        .bootstrap(Username::parse("username", "admin").expect("valid name"))
        .await
        .expect("bootstrap")
        .expose_plaintext();
    drop(directory);
    store.close().await.expect("close");
    let bare = files.pepper("bare", TEXT);
    assert!(authenticates(&files.config(bare, PepperLineBreak::Refuse), &key).await);
    // Kept, the line break is part of the pepper: another pepper.
    assert!(!authenticates(&files.config(text_file, PepperLineBreak::Keep), &key).await);

    // A binary pepper is used as it is, whatever its last byte.
    let mut binary = vec![0xffu8; 31];
    binary.push(b'\n');
    let binary = files.pepper("binary", &binary);
    accesskey_server::open(&files.config(binary, PepperLineBreak::Refuse))
        .await
        .expect("a binary pepper ending in 0x0a");
}
