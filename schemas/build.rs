//! Generates the `cairn.v1` Rust types from `proto/` with a vendored `protoc`,
//! so no system `protoc` is needed.
//!
//! The messages are always generated; the tonic client and server stubs only
//! with the `grpc` feature, into a second file, so pure crates never see tonic.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/cairn/v1/ledger.proto",
    "proto/cairn/v1/access.proto",
    "proto/cairn/v1/cert_tx.proto",
    "proto/cairn/v1/cert.proto",
    "proto/cairn/v1/billing_tx.proto",
    "proto/cairn/v1/billing.proto",
    "proto/cairn/v1/case_tx.proto",
    "proto/cairn/v1/case.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    let target = out_dir.join(if grpc { "grpc" } else { "messages" });
    std::fs::create_dir_all(&target)?;

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_server(grpc)
        .build_client(grpc)
        .build_transport(grpc)
        .out_dir(&target)
        .file_descriptor_set_path(out_dir.join("cairn_v1_descriptor.bin"))
        .compile_with_config(config, PROTOS, &["proto"])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
