//! Certificate presentations: what a holder shows a verifier, how it is
//! encoded for a QR code, and how a verifier checks it with no network.
//!
//! A [`Presentation`] carries the certificate statement and its issuer
//! signature, the certificate's inclusion proof in its channel with the signed
//! channel checkpoint, and the holder's signature over a challenge (given by
//! the verifier) or over the time of presenting. It is encoded the way the EU
//! Digital COVID Certificate made familiar: CBOR, compressed with zlib, Base45
//! (so a QR code can use its compact alphanumeric mode), behind the prefix
//! `CRN1:`.
//!
//! [`verify::verify`] checks a presentation against the keys a verifier
//! trusts and an issuer's [`status::SignedStatusList`] fetched earlier; the
//! time is a parameter, so verification is pure and can be repeated.
//!
//! The `qr` feature renders presentations as QR codes (PNG, SVG, terminal)
//! and reads them back from images.
//!
//! Credential checking lives beside the signed-request checks because both
//! answer the same question for a verifier: who signed this, and may it be
//! believed, with only public keys and no network.
//!
//! ```
//! use access_control::credential::presentation::{Presentation, decode, encode};
//! let presentation = Presentation { block: 7, ..Presentation::default() };
//! let text = encode(&presentation).unwrap();
//! assert!(text.starts_with("CRN1:"));
//! assert_eq!(decode(&text).unwrap(), presentation);
//! ```

pub mod issue;
pub mod presentation;
#[cfg(feature = "qr")]
pub mod qr;
pub mod status;
pub mod verify;

/// Why a presentation, a status list or a QR code could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not start with the presentation prefix.
    #[error("not a Cairn presentation: it does not start with {expected:?}")]
    Prefix {
        /// The prefix expected.
        expected: &'static str,
    },
    /// The Base45 text is not valid.
    #[error("the presentation's Base45 text is invalid: {0}")]
    Base45(String),
    /// The zlib stream is not valid (a changed character, usually).
    #[error("the presentation's compressed data is damaged: {0}")]
    Compression(String),
    /// The CBOR does not decode into a presentation.
    #[error("the presentation's CBOR is not a valid presentation: {0}")]
    Cbor(String),
    /// The presentation is larger than accepted.
    #[error("the presentation decompresses to more than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A status list that does not hold together.
    #[error("the status list is invalid: {0}")]
    StatusList(String),
    /// No QR code could be read from an image.
    #[error("no readable QR code in the image: {0}")]
    Qr(String),
}

/// The result type of credential handling.
pub type Result<T, E = Error> = std::result::Result<T, E>;
