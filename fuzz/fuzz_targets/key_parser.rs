//! The key parser on arbitrary bytes: never panics, accepts only the exact
//! shape, and what it accepts prints back byte for byte.

#![no_main]

use accesskey_server::testing::key_format::{AccessKey, KEY_LEN, KEY_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = AccessKey::parse(text) {
        assert_eq!(text.len(), KEY_LEN);
        assert!(text.starts_with(KEY_PREFIX));
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        // Parsing is injective: the key prints back as exactly the input.
        assert!(
            key.expose_plaintext() == text,
            "a key parsed from another spelling"
        );
    }
});
