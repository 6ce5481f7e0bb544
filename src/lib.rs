//! The `accesskey.v1` wire contract, generated from `proto/` by `build.rs`.
//!
//! This crate has no server dependencies on purpose: backend services depend on
//! it (through `accesskey-client`) and should stay light. The server stubs are
//! behind the `server` feature; [`credential`] is the one reading of a
//! request's credential headers that the server and the middleware share.

#![allow(missing_docs)]

// Generated code is never edited by hand or held to our lints.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_debug_implementations, rust_2018_idioms)]
mod generated {
    tonic::include_proto!("accesskey.v1");
}

pub mod credential;

/// The generated `accesskey.v1` messages, enums and clients; the servers too
/// with the `server` feature.
pub mod pb {
    pub use super::generated::*;
}

/// The one field of each of these messages that holds a plaintext key is
/// printed as `<redacted>`: these messages are logged, traced and put in
/// error messages like any other, and a key must never end up there.
/// Destructured whole, so a field added to the contract cannot be left out.
mod redacted_debug {
    use std::fmt;

    use super::pb;

    const REDACTED: &str = "<redacted>";

    impl fmt::Debug for pb::VerifyAccessKeyRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let Self {
                access_key: _,
                required_permissions,
            } = self;
            f.debug_struct("VerifyAccessKeyRequest")
                .field("access_key", &REDACTED)
                .field("required_permissions", required_permissions)
                .finish()
        }
    }

    impl fmt::Debug for pb::GenerateAccessKeyResponse {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let Self {
                access_key: _,
                access_key_info,
            } = self;
            f.debug_struct("GenerateAccessKeyResponse")
                .field("access_key", &REDACTED)
                .field("access_key_info", access_key_info)
                .finish()
        }
    }
}

/// The encoded `FileDescriptorSet` of `accesskey.v1` and its imports, for
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("accesskey_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::pb;

    #[test]
    fn messages_carrying_a_key_never_print_it() {
        let key = "akey_0123456789abcdef_SECRETSECRETSECRET";
        let request = pb::VerifyAccessKeyRequest {
            access_key: key.to_owned(),
            required_permissions: vec!["orders.read".to_owned()],
        };
        let response = pb::GenerateAccessKeyResponse {
            access_key: key.to_owned(),
            access_key_info: Some(pb::AccessKeyInfo {
                key_id: "0123456789abcdef".to_owned(),
                ..pb::AccessKeyInfo::default()
            }),
        };
        for printed in [format!("{request:?}"), format!("{response:#?}")] {
            assert!(!printed.contains("SECRET"), "{printed}");
            assert!(printed.contains("<redacted>"), "{printed}");
        }
        assert!(format!("{request:?}").contains("orders.read"));
        assert!(format!("{response:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn descriptor_set_decodes_and_names_both_services() {
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("the build script writes a valid descriptor set");
        let services: Vec<_> = set
            .file
            .iter()
            .flat_map(|file| file.service.iter())
            .filter_map(|service| service.name.clone())
            .collect();
        assert!(services.contains(&"UserAdmin".to_owned()));
        assert!(services.contains(&"KeyAuth".to_owned()));
    }
}
