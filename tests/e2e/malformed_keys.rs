//! A corpus of ~200 malformed keys, as presented keys and as caller keys:
//! each is MALFORMED (or UNAUTHENTICATED for a caller), and none is echoed.

use accesskey_client::Verification;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::harness::TestServer;

/// Wrong prefix, each position corrupted, truncations, extensions, and
/// things that are not keys at all.
fn corpus(genuine: &str) -> Vec<String> {
    let mut keys = vec![
        String::new(),
        "akey_".to_owned(),
        genuine.replacen("akey_", "AKEY_", 1),
        genuine.replacen("akey_", "akey-", 1),
        genuine.replacen("akey_", "bkey_", 1),
        format!("{genuine} "),
        format!(" {genuine}"),
        format!("{genuine}\n"),
        format!("{genuine}{genuine}"),
        genuine.to_uppercase(),
        genuine.replace('_', "%5F"),
        "k".repeat(64 * 1024),
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig".to_owned(),
        "ãkey_ünïcødé".to_owned(),
    ];
    for position in 0..genuine.len() {
        let mut corrupted = genuine.as_bytes().to_vec();
        corrupted[position] = if corrupted[position] == b'Z' {
            b'Y'
        } else {
            b'Z'
        };
        keys.push(String::from_utf8(corrupted).expect("ascii"));
    }
    for len in 1..genuine.len() {
        keys.push(genuine[..len].to_owned());
    }
    for position in (0..genuine.len()).step_by(2) {
        let mut deleted = genuine.to_owned();
        deleted.remove(position);
        keys.push(format!("{deleted}0"));
    }
    // Deleting the last character and appending "0" gives back a genuine
    // key that ends in "0" (one run in 62): that one is not malformed.
    keys.retain(|key| key != genuine);
    keys
}

#[tokio::test]
async fn a_corpus_of_malformed_keys_is_malformed_as_subject_and_refused_as_caller() {
    let server = TestServer::start().await;
    let (_, genuine) = server.user_with_key("svc", &[]).await;
    let corpus = corpus(&genuine);
    assert!(corpus.len() >= 150, "{} keys", corpus.len());
    let mut as_caller = 0;
    for key in &corpus {
        let verdict = server
            .admin
            .verify(key, Vec::<String>::new())
            .await
            .expect("an answer");
        assert_eq!(verdict, Verification::Malformed, "{:?}", key.get(..80));

        // As the caller's own key (where it fits in a header at all).
        let Ok(value) = MetadataValue::try_from(key.as_str()) else {
            continue;
        };
        if key.len() > 8 * 1024 {
            continue;
        }
        let mut request = Request::new(accesskey_client::pb::WhoAmIRequest {});
        request.metadata_mut().insert("x-access-key", value);
        let mut stub =
            accesskey_client::pb::key_auth_client::KeyAuthClient::new(server.admin.channel());
        let status = stub.who_am_i(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
        // (Short fragments like "a" occur in any sentence; longer ones must not.)
        if key.len() >= 8 {
            assert!(
                !status.message().contains(key.as_str()),
                "the key is echoed"
            );
        }
        as_caller += 1;
    }
    assert!(as_caller >= 100, "{as_caller} tried as caller keys");
    // The genuine key is untouched by all of it.
    assert!(
        server
            .verdict(&genuine, Vec::<String>::new())
            .await
            .is_valid()
    );
}
