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

/// The service definitions of the four social-security services of the seed
/// paper (`services/*.json`), as `(file name, JSON text)`.
pub mod services {
    /// Minimum living guarantee: threshold minus per-capita income, times the members.
    pub const MINIMUM_LIVING_GUARANTEE: &str =
        include_str!("../services/minimum-living-guarantee.json");
    /// Social assistance (Algorithm 2, Figure 6 of the seed paper).
    pub const SOCIAL_ASSISTANCE: &str = include_str!("../services/social-assistance.json");
    /// Social insurance enrolment (Algorithm 1, Figure 5).
    pub const SOCIAL_INSURANCE: &str = include_str!("../services/social-insurance.json");
    /// Social welfare for injury on duty (Algorithm 3, Figure 7).
    pub const SOCIAL_WELFARE: &str = include_str!("../services/social-welfare.json");
    /// Every definition, by file name.
    pub const ALL: [(&str, &str); 4] = [
        ("social-insurance.json", SOCIAL_INSURANCE),
        ("social-assistance.json", SOCIAL_ASSISTANCE),
        ("social-welfare.json", SOCIAL_WELFARE),
        ("minimum-living-guarantee.json", MINIMUM_LIVING_GUARANTEE),
    ];
}
