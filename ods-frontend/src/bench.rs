//! Throughput measurements of the pipeline's parts, for `cairn bench ods`.
//!
//! Each function times one pass over the caller's data with a monotonic
//! clock and returns bytes per second. They are measurements, not tests:
//! nothing here asserts a speed.

use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::aead::{ChunkCipher, ChunkPosition};
use crate::error::Error;
use crate::pipeline::{PipelineConfig, seal_stream};

/// Returns `bytes` divided by the seconds elapsed since `start`.
fn rate(bytes: usize, start: Instant) -> f64 {
    let seconds = start.elapsed().as_secs_f64();
    if seconds > 0.0 { bytes as f64 / seconds } else { 0.0 }
}

/// Measures SHA-256 on one core: hashes `bytes` once and returns bytes per second.
pub fn measure_sha256(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let digest = Sha256::digest(bytes);
    let result = rate(bytes.len(), start);
    std::hint::black_box(digest);
    result
}

/// Measures one cipher on one core: seals `bytes` as a single chunk and
/// returns the sealing rate in bytes per second.
///
/// The buffer is opened again afterwards (untimed), so it holds its original
/// contents when this returns successfully. The buffer must stay below
/// AES-GCM's 64 GiB message limit.
pub fn measure_cipher(cipher: &dyn ChunkCipher, bytes: &mut Vec<u8>) -> Result<f64, Error> {
    bytes.reserve(crate::aead::TAG_LEN);
    let len = bytes.len();
    let start = Instant::now();
    cipher.seal_in_place(0, ChunkPosition::Last, bytes)?;
    let result = rate(len, start);
    cipher.open_in_place(0, ChunkPosition::Last, bytes)?;
    Ok(result)
}

/// Measures the whole sealing pipeline in memory: runs [`seal_stream`] over
/// `data` into a sink that drops every chunk, and returns bytes per second.
pub fn seal_in_memory(
    data: &[u8],
    cipher: &dyn ChunkCipher,
    config: &PipelineConfig,
) -> Result<f64, Error> {
    let start = Instant::now();
    let summary = seal_stream(
        data,
        cipher,
        config,
        |chunk| {
            std::hint::black_box(chunk);
            Ok(())
        },
        |_| {},
    )?;
    let result = rate(data.len(), start);
    std::hint::black_box(summary);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead::{DataKey, ring_cipher};

    #[test]
    fn measurements_run_and_leave_the_buffer_intact() {
        let data: Vec<u8> = (0..1 << 16).map(|i| i as u8).collect();
        assert!(measure_sha256(&data) >= 0.0);
        let cipher = ring_cipher(&DataKey::from_bytes([1; 32]));
        let mut buffer = data.clone();
        assert!(measure_cipher(&*cipher, &mut buffer).unwrap() >= 0.0);
        assert_eq!(buffer, data);
        let config = PipelineConfig { chunk_size: 4096, workers: 2, max_in_flight: 4 };
        assert!(seal_in_memory(&data, &*cipher, &config).unwrap() >= 0.0);
    }
}
