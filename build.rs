//! Generates the `accesskey.v1` Rust code from `proto/` without a system
//! `protoc`: protox (pure Rust) compiles the .proto files into a descriptor set,
//! which feeds tonic's code generator and is also written out for server
//! reflection.

use std::{env, path::PathBuf};

use protox::prost::Message as _;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &["accesskey/v1/accesskey.proto"];
/// Messages with a plaintext key in a field.
const KEY_CARRYING_MESSAGES: [&str; 2] = [
    ".accesskey.v1.VerifyAccessKeyRequest",
    ".accesskey.v1.GenerateAccessKeyResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build does not emit this itself; without it every source
    // change would re-run code generation.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("accesskey_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Channels come from the client crate (`tonic/channel`), so the
        // contract needs no transport; server stubs only for servers.
        .build_transport(false)
        .server_mod_attribute("accesskey.v1", r#"#[cfg(feature = "server")]"#)
        // Messages carrying a plaintext key get a redacting `Debug` by hand
        // (src/lib.rs), so no `{:?}` anywhere can print one.
        .skip_debug(KEY_CARRYING_MESSAGES)
        .compile_fds(descriptors)?;
    Ok(())
}
