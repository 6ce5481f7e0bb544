//! The `accesskey.v1` wire contract, generated from `proto/` by `build.rs`.
//!
//! This crate has no server dependencies on purpose: backend services depend on
//! it (through `accesskey-client`) and should stay light.

#![allow(missing_docs)]

// Generated code is never edited by hand or held to our lints.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_debug_implementations, rust_2018_idioms)]
mod generated {
    tonic::include_proto!("accesskey.v1");
}

/// The generated `accesskey.v1` messages, enums, clients and servers.
pub mod pb {
    pub use super::generated::*;
}

/// The encoded `FileDescriptorSet` of `accesskey.v1` and its imports, for
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("accesskey_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message as _;

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
