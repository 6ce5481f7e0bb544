//! Hashing, verification, fingerprints and peppers, against real argon2.

use super::*;
use crate::domain::key_format::AccessKey;

#[tokio::test]
async fn hashes_are_salted_argon2id_and_verify_only_their_secret() {
    let hasher = SecretHasher::new(HashParams::OWASP, 2, std::time::Duration::from_secs(5));
    let key = AccessKey::generate().expect("csprng");
    let other = AccessKey::generate().expect("csprng");
    let first = hasher.hash(key.secret()).await.expect("hash");
    let second = hasher.hash(key.secret()).await.expect("hash");
    assert!(
        first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{first}"
    );
    assert_ne!(first, second, "salts must differ");
    assert!(hasher.verify(key.secret(), &first).await.expect("verify"));
    assert!(!hasher.verify(other.secret(), &first).await.expect("verify"));
}

#[test]
fn fingerprints_tell_secrets_apart_bound_to_their_key_id_and_pepper() {
    let timeout = std::time::Duration::from_secs(5);
    let plain = SecretHasher::new(HashParams::OWASP, 1, timeout);
    let key = AccessKey::generate().expect("csprng");
    let other = AccessKey::generate().expect("csprng");
    let fingerprint = plain.fingerprint(key.key_id(), key.secret());
    assert!(fingerprint.matches(&plain.fingerprint(key.key_id(), key.secret())));
    assert!(!fingerprint.matches(&plain.fingerprint(key.key_id(), other.secret())));
    assert!(
        !fingerprint.matches(&plain.fingerprint(other.key_id(), key.secret())),
        "bound to the key id"
    );
    let stored = Fingerprint::from_stored(fingerprint.to_stored());
    assert!(stored.matches(&fingerprint), "survives storage");
    let peppered = SecretHasher::new(HashParams::OWASP, 1, timeout)
        .with_pepper(Pepper::new(vec![7; 32]).expect("long enough"));
    assert!(
        !fingerprint.matches(&peppered.fingerprint(key.key_id(), key.secret())),
        "keyed with the pepper"
    );
    assert_eq!(format!("{fingerprint:?}"), "Fingerprint(redacted)");
}

#[test]
fn a_pepper_is_told_apart_by_its_fingerprint() {
    let pepper = |byte: u8| Pepper::new(vec![byte; 32]).expect("long enough");
    assert_eq!(pepper(1).fingerprint(), pepper(1).fingerprint());
    assert_ne!(pepper(1).fingerprint(), pepper(2).fingerprint());
    assert_eq!(pepper(1).fingerprint().len(), 8, "32 bits, in hex");
}

#[tokio::test]
async fn a_peppered_hash_verifies_only_with_the_same_pepper() {
    let timeout = std::time::Duration::from_secs(5);
    let pepper = |byte: u8| Pepper::new(vec![byte; 32]).expect("long enough");
    let peppered = SecretHasher::new(HashParams::OWASP, 1, timeout).with_pepper(pepper(1));
    let key = AccessKey::generate().expect("csprng");
    let stored = peppered.hash(key.secret()).await.expect("hash");
    assert!(
        peppered
            .verify(key.secret(), &stored)
            .await
            .expect("verify")
    );
    let plain = SecretHasher::new(HashParams::OWASP, 1, timeout);
    assert!(!plain.verify(key.secret(), &stored).await.expect("verify"));
    let other = SecretHasher::new(HashParams::OWASP, 1, timeout).with_pepper(pepper(2));
    assert!(!other.verify(key.secret(), &stored).await.expect("verify"));
    assert!(Pepper::new(vec![7; Pepper::MIN_LEN - 1]).is_err());
    assert!(
        !format!("{peppered:?}").contains("1, 1"),
        "the pepper is never printed"
    );
}

#[tokio::test]
async fn refuses_stored_hashes_with_absurd_parameters() {
    let hasher = SecretHasher::new(HashParams::OWASP, 1, std::time::Duration::from_secs(5));
    let key = AccessKey::generate().expect("csprng");
    let hash = hasher.hash(key.secret()).await.expect("hash");
    let tampered = hash.replace("m=19456", "m=4000000");
    assert!(matches!(
        hasher.verify(key.secret(), &tampered).await,
        Err(HashError::UnusableStoredHash(_))
    ));
}

#[test]
fn parameters_below_the_owasp_floor_are_refused() {
    assert!(HashParams::OWASP.validate().is_ok());
    let weak = HashParams {
        memory_kib: 4096,
        ..HashParams::OWASP
    };
    assert!(weak.validate().is_err());
}
