//! The presentation and its text encoding:
//! `"CRN1:" || Base45(zlib(CBOR(presentation)))`.
//!
//! The CBOR is a map with short text keys (listed on [`Presentation`]'s
//! fields); byte strings are CBOR byte strings. Decoding refuses anything that
//! decompresses to more than [`MAX_DECODED_BYTES`].

use std::io::Write;

use anchor_chaincode::cert::{self, CertId, Statement};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{Error, Result};

/// The text prefix of an encoded presentation (version 1).
pub const PREFIX: &str = "CRN1:";
/// The largest decoded presentation accepted.
pub const MAX_DECODED_BYTES: usize = 64 * 1024;

/// What a holder shows a verifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    /// `s`: the certificate statement, exactly as the issuer signed it.
    #[serde(rename = "s", with = "serde_bytes")]
    pub statement: Vec<u8>,
    /// `is`: the issuer's signature over the labelled statement.
    #[serde(rename = "is", with = "serde_bytes")]
    pub issuer_signature: Vec<u8>,
    /// `tx`: the issuing transaction's id.
    #[serde(rename = "tx", with = "serde_bytes")]
    pub issue_tx: Vec<u8>,
    /// `b`: its block.
    #[serde(rename = "b")]
    pub block: u64,
    /// `si`: the certificate's entry in its issuer's status list.
    #[serde(rename = "si")]
    pub status_index: u64,
    /// `li`: its leaf index in the channel's Merkle log.
    #[serde(rename = "li")]
    pub leaf_index: u64,
    /// `p`: the inclusion proof (RFC 9162) up to the checkpoint's size.
    #[serde(rename = "p")]
    pub proof: Vec<ByteBuf>,
    /// `c`: the channel checkpoint, a C2SP signed note.
    #[serde(rename = "c")]
    pub checkpoint: String,
    /// `ax`: the `AnchorChannels` transaction that anchored that checkpoint in the main ledger.
    #[serde(rename = "ax", with = "serde_bytes")]
    pub anchor_tx: Vec<u8>,
    /// `ab`: its block.
    #[serde(rename = "ab")]
    pub anchor_block: u64,
    /// `hk`: the holder's Ed25519 public key.
    #[serde(rename = "hk", with = "serde_bytes")]
    pub holder_key: Vec<u8>,
    /// `at`: when the holder signed, ms since the epoch.
    #[serde(rename = "at")]
    pub presented_at_ms: u64,
    /// `ch`: the verifier's challenge (empty: a time-bound presentation).
    #[serde(rename = "ch", with = "serde_bytes")]
    pub challenge: Vec<u8>,
    /// `hs`: the holder's signature (see [`anchor_chaincode::cert::presentation_message`]).
    #[serde(rename = "hs", with = "serde_bytes")]
    pub holder_signature: Vec<u8>,
}

impl Presentation {
    /// The certificate id (computed from the statement).
    pub fn certificate_id(&self) -> CertId {
        cert::certificate_id(&self.statement)
    }

    /// The parsed statement.
    pub fn parsed_statement(&self) -> Result<Statement, anchor_chaincode::Error> {
        Statement::parse(&self.statement)
    }

    /// Signs as the holder: sets the holder key, time, challenge and signature.
    pub fn sign_as_holder(
        &mut self,
        holder: &ed25519_zebra::SigningKey,
        presented_at_ms: u64,
        challenge: &[u8],
    ) {
        self.holder_key = <[u8; 32]>::from(holder.verification_key()).to_vec();
        self.presented_at_ms = presented_at_ms;
        self.challenge = challenge.to_vec();
        let message =
            cert::presentation_message(&self.certificate_id(), presented_at_ms, challenge);
        self.holder_signature = holder.sign(&message).to_bytes().to_vec();
    }
}

/// Encodes a presentation as text for a QR code.
pub fn encode(presentation: &Presentation) -> Result<String> {
    let mut cbor = Vec::new();
    ciborium::into_writer(presentation, &mut cbor).map_err(|e| Error::Cbor(e.to_string()))?;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    zlib.write_all(&cbor).map_err(|e| Error::Compression(e.to_string()))?;
    let compressed = zlib.finish().map_err(|e| Error::Compression(e.to_string()))?;
    Ok(format!("{PREFIX}{}", base45::encode(&compressed)))
}

const BASE45_ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Base45 (RFC 9285) decoding with a lookup table.
///
/// The `base45` crate encodes; this decoder is ours because a verifier spends
/// a sixth of each check in the crate's decoder (17 µs for a 1,500-character
/// presentation, against about 2 µs here). The tests check both agree.
pub fn base45_decode(text: &str) -> Result<Vec<u8>> {
    base45_decode_reason(text).map_err(Error::Base45)
}

fn base45_decode_reason(text: &str) -> Result<Vec<u8>, String> {
    const INVALID: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut idx = 0;
        while idx < 45 {
            table[BASE45_ALPHABET[idx] as usize] = idx as u8;
            idx += 1;
        }
        table
    };
    let bytes = text.as_bytes();
    let value = |pos: usize| -> Result<u32, String> {
        match TABLE[bytes[pos] as usize] {
            INVALID => Err(format!("character {:?} at {pos} is not Base45", bytes[pos] as char)),
            v => Ok(u32::from(v)),
        }
    };
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    let mut pos = 0;
    while pos + 3 <= bytes.len() {
        let n = value(pos)? + value(pos + 1)? * 45 + value(pos + 2)? * 2025;
        if n > 0xffff {
            return Err(format!("characters {pos} to {} encode {n}, more than 65535", pos + 2));
        }
        out.push((n >> 8) as u8);
        out.push(n as u8);
        pos += 3;
    }
    match bytes.len() - pos {
        0 => {}
        2 => {
            let n = value(pos)? + value(pos + 1)? * 45;
            if n > 0xff {
                return Err(format!("the last two characters encode {n}, more than 255"));
            }
            out.push(n as u8);
        }
        _ => return Err("the text ends with a single character".into()),
    }
    Ok(out)
}

/// Decodes presentation text (surrounding whitespace is ignored).
pub fn decode(text: &str) -> Result<Presentation> {
    Decoder::default().decode(text)
}

/// A decoder that keeps its inflate state and buffer between presentations,
/// for a verifier that reads many (the state is tens of kilobytes to set up).
pub struct Decoder {
    inflate: flate2::Decompress,
    cbor: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { inflate: flate2::Decompress::new(true), cbor: Vec::with_capacity(4096) }
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// Decodes presentation text (surrounding whitespace is ignored).
    pub fn decode(&mut self, text: &str) -> Result<Presentation> {
        let body = text.trim().strip_prefix(PREFIX).ok_or(Error::Prefix { expected: PREFIX })?;
        let compressed = base45_decode(body)?;
        self.inflate.reset(true);
        self.cbor.clear();
        let mut input = compressed.as_slice();
        loop {
            if self.cbor.len() == self.cbor.capacity() {
                if self.cbor.len() >= MAX_DECODED_BYTES {
                    return Err(Error::TooLarge { max: MAX_DECODED_BYTES });
                }
                self.cbor.reserve(self.cbor.len().max(4096));
            }
            let before = self.inflate.total_in();
            let status = self
                .inflate
                .decompress_vec(input, &mut self.cbor, flate2::FlushDecompress::Finish)
                .map_err(|e| Error::Compression(e.to_string()))?;
            let consumed = (self.inflate.total_in() - before) as usize;
            input = &input[consumed.min(input.len())..];
            match status {
                flate2::Status::StreamEnd => break,
                flate2::Status::Ok | flate2::Status::BufError
                    if self.cbor.len() < self.cbor.capacity() && input.is_empty() =>
                {
                    return Err(Error::Compression("the compressed data ends early".into()));
                }
                flate2::Status::Ok | flate2::Status::BufError => {}
            }
        }
        if self.cbor.len() > MAX_DECODED_BYTES {
            return Err(Error::TooLarge { max: MAX_DECODED_BYTES });
        }
        ciborium::from_reader(self.cbor.as_slice()).map_err(|e| Error::Cbor(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Presentation {
        Presentation {
            statement: vec![1; 180],
            issuer_signature: vec![2; 64],
            issue_tx: vec![3; 32],
            block: 12,
            status_index: 4,
            leaf_index: 5,
            proof: vec![ByteBuf::from(vec![6; 32]); 3],
            checkpoint: "origin\n6\nAAAA\n\n— origin abcd\n".into(),
            anchor_tx: vec![7; 32],
            anchor_block: 13,
            holder_key: vec![8; 32],
            presented_at_ms: 1_700_000_000_000,
            challenge: b"nonce".to_vec(),
            holder_signature: vec![9; 64],
        }
    }

    #[test]
    fn round_trip_uses_the_alphanumeric_alphabet() {
        let text = encode(&sample()).unwrap();
        assert!(
            text.bytes().all(|b| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&b)),
            "{text}"
        );
        assert_eq!(decode(&text).unwrap(), sample());
        assert_eq!(decode(&format!("  {text}\n")).unwrap(), sample());
    }

    #[test]
    fn base45_decoder_agrees_with_the_crate() {
        for len in 0..300usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 151 + len * 7) as u8).collect();
            let text = base45::encode(&bytes);
            assert_eq!(base45_decode(&text).unwrap(), bytes);
        }
        assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
        // RFC 9285 says a decoder must refuse values out of range ("GGW" is 65536,
        // "ZZ" 1610 for one byte); the crate lets "ZZ" through.
        for bad in ["A", "GGW", "a00", "ZZ"] {
            assert!(base45_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn damaged_text_is_refused_with_a_reason() {
        let text = encode(&sample()).unwrap();
        assert!(matches!(decode("HC1:abc"), Err(Error::Prefix { .. })));
        assert!(matches!(decode("CRN1:a"), Err(Error::Base45(_))));
        // Changing any one character never yields a different valid presentation silently.
        let bytes = text.as_bytes();
        for idx in [PREFIX.len(), text.len() / 2, text.len() - 1] {
            let mut changed = bytes.to_vec();
            changed[idx] = if changed[idx] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(changed).unwrap();
            match decode(&changed) {
                Ok(p) => assert_ne!(p, sample(), "a changed character decoded to the same"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}
