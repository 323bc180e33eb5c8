//! Protobuf messages and gRPC services of Cairn, package `cairn.v1`.
//!
//! This crate owns the wire format: the transaction envelope, the log record,
//! the block header, proofs, checkpoints and the gRPC services. The types are
//! generated at build time from `proto/` with a vendored `protoc`.
//!
//! The message types are pure data. The tonic client and server stubs exist
//! only with the `grpc` feature, so the pure crates that decode transactions
//! (`anchor-chaincode`) never link tokio or tonic.
//!
//! Domain code does not use these types directly: it converts at its edge.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// Package `cairn.v1`.
pub mod v1 {
    #[cfg(not(feature = "grpc"))]
    include!(concat!(env!("OUT_DIR"), "/messages/cairn.v1.rs"));
    #[cfg(feature = "grpc")]
    include!(concat!(env!("OUT_DIR"), "/grpc/cairn.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every `cairn.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cairn_v1_descriptor.bin"));
