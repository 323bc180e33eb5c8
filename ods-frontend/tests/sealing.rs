//! The sealed-object pipeline end to end in memory: round trips, every kind of
//! tampering (each named by its chunk or field), both ciphers, the golden
//! content hash, the memory bound, and a property test.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ods_frontend::aead::{ChunkCipher, DataKey, TAG_LEN, ring_cipher, rustcrypto_cipher};
use ods_frontend::format::{LENGTH_FIELD_LEN, ObjectReader, ObjectWriter, PREAMBLE_LEN};
use ods_frontend::pipeline::{
    PipelineConfig, SealSummary, content_hash, open_stream, open_stream_with, seal_stream,
};
use ods_frontend::{CorruptReason, Error, FormatError};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Deterministic test data that differs from chunk to chunk.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect()
}

fn key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

fn config(chunk_size: usize) -> PipelineConfig {
    PipelineConfig { chunk_size, workers: 2, max_in_flight: 3 }
}

/// Seals `plaintext` into the bytes of a sealed object.
fn seal(plaintext: &[u8], cipher: &dyn ChunkCipher, chunk_size: usize) -> (SealSummary, Vec<u8>) {
    let mut writer = ObjectWriter::new(Vec::new(), chunk_size).unwrap();
    let summary = seal_stream(
        plaintext,
        cipher,
        &config(chunk_size),
        |chunk| writer.write_chunk(chunk),
        |_| {},
    )
    .unwrap();
    (summary, writer.finish().unwrap())
}

/// Opens the bytes of a sealed object against a summary, returning the plaintext.
fn open(object: &[u8], cipher: &dyn ChunkCipher, summary: &SealSummary) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let chunks = ObjectReader::new_expecting(object, summary.chunk_size)?;
    let opened =
        open_stream(chunks, cipher, &summary.chunk_hashes, &summary.content_hash, &mut out)?;
    assert_eq!(opened.plaintext_bytes, out.len() as u64);
    assert_eq!(opened.n_chunks, summary.n_chunks);
    Ok(out)
}

/// The byte ranges of each chunk record in an object: (length field start,
/// ciphertext start, end).
fn records(object: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut offset = PREAMBLE_LEN;
    let mut records = Vec::new();
    while offset < object.len() {
        let length = u32::from_be_bytes(object[offset..offset + 4].try_into().unwrap()) as usize;
        records.push((offset, offset + LENGTH_FIELD_LEN, offset + LENGTH_FIELD_LEN + length));
        offset += LENGTH_FIELD_LEN + length;
    }
    records
}

#[test]
fn round_trip_at_the_edges_of_chunks() {
    let cs = 64;
    for len in [0, 1, cs - 1, cs, cs + 1, 3 * cs + cs / 2, 3 * cs] {
        let plaintext = data(len);
        let cipher = ring_cipher(&key());
        let (summary, object) = seal(&plaintext, &*cipher, cs);
        assert_eq!(summary.n_chunks, len.div_ceil(cs) as u64, "len {len}");
        assert_eq!(summary.plaintext_bytes, len as u64);
        assert_eq!(summary.chunk_hashes.len() as u64, summary.n_chunks);
        assert_eq!(summary.content_hash, content_hash(&summary.chunk_hashes));
        let expected_len =
            PREAMBLE_LEN + summary.n_chunks as usize * (LENGTH_FIELD_LEN + TAG_LEN) + len;
        assert_eq!(object.len(), expected_len, "len {len}");
        assert_eq!(open(&object, &*cipher, &summary).unwrap(), plaintext, "len {len}");
    }
}

#[test]
fn ciphers_interoperate() {
    let plaintext = data(1000);
    let (ring, rust) = (ring_cipher(&key()), rustcrypto_cipher(&key()));
    let (by_ring, object_by_ring) = seal(&plaintext, &*ring, 100);
    let (by_rust, object_by_rust) = seal(&plaintext, &*rust, 100);
    assert_eq!(object_by_ring, object_by_rust);
    assert_eq!(by_ring, by_rust);
    assert_eq!(open(&object_by_ring, &*rust, &by_ring).unwrap(), plaintext);
    assert_eq!(open(&object_by_rust, &*ring, &by_rust).unwrap(), plaintext);
}

/// The content hash recomputed independently in Python (hashlib only):
///
/// ```python
/// import hashlib
/// def mth(d):
///     if not d: return hashlib.sha256(b"").digest()
///     if len(d) == 1: return hashlib.sha256(b"\x00" + d[0]).digest()
///     k = 1
///     while 2 * k < len(d): k *= 2
///     return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()
/// def content_hash(data, cs):
///     return mth([hashlib.sha256(data[i:i + cs]).digest() for i in range(0, len(data), cs)]).hex()
/// ```
#[test]
fn content_hash_matches_an_independent_computation() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"a", "a23bd5b06da9048238a65b3f1d9d0b9e15fae3dde262688e6489aa4c763d1820"),
        (b"abcd", "0dfa3a8062175f5448a21e44863e787bcafa4f9da34d543461fd366005892073"),
        (
            b"Cairn: golden content hash!",
            "cb138af4ae9fde16c6340ce3c408a9acdba00a68d74b6045b2f225a3a69c11e4",
        ),
    ];
    let cipher = ring_cipher(&key());
    for (input, expected) in cases {
        let (summary, _) = seal(input, &*cipher, 4);
        assert_eq!(hex::encode(summary.content_hash), expected, "{input:?}");
        let by_hand: Vec<[u8; 32]> = input.chunks(4).map(|c| Sha256::digest(c).into()).collect();
        assert_eq!(summary.chunk_hashes, by_hand);
    }
}

/// Flips every byte of small objects with several masks: each flip is caught,
/// and the error names the chunk that holds the byte, or a preamble field.
#[test]
fn every_single_byte_flip_is_detected_and_located() {
    let cs = 64;
    let cipher = ring_cipher(&key());
    for len in [3 * cs + cs / 2, 3 * cs, 1] {
        let plaintext = data(len);
        let (summary, object) = seal(&plaintext, &*cipher, cs);
        let records = records(&object);
        for position in 0..object.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut bad = object.clone();
                bad[position] ^= mask;
                let err = open(&bad, &*cipher, &summary).unwrap_err();
                if position < PREAMBLE_LEN {
                    let field_error = match position {
                        0..8 => matches!(err, Error::Format(FormatError::BadMagic)),
                        8..10 => {
                            matches!(err, Error::Format(FormatError::UnsupportedVersion { .. }))
                        }
                        _ => matches!(
                            err,
                            Error::Format(
                                FormatError::BadChunkSize { .. }
                                    | FormatError::ChunkSizeMismatch { .. }
                            )
                        ),
                    };
                    assert!(field_error, "len {len} byte {position} mask {mask:#x}: {err}");
                    continue;
                }
                let owner = records
                    .iter()
                    .position(|&(start, _, end)| (start..end).contains(&position))
                    .unwrap() as u64;
                assert_eq!(
                    err.chunk_index(),
                    Some(owner),
                    "len {len} byte {position} mask {mask:#x}: {err}"
                );
                let (_, data_start, _) = records[owner as usize];
                if position >= data_start {
                    assert!(
                        matches!(
                            err,
                            Error::ChunkCorrupt { reason: CorruptReason::Authentication, .. }
                        ),
                        "{err}"
                    );
                }
            }
        }
    }
}

#[test]
fn error_messages_name_the_chunk() {
    let cipher = ring_cipher(&key());
    let (summary, object) = seal(&data(1000), &*cipher, 64);
    let records = records(&object);
    let mut bad = object.clone();
    bad[records[15].1 + 3] ^= 1;
    let err = open(&bad, &*cipher, &summary).unwrap_err();
    assert!(err.to_string().starts_with("chunk 15 failed authentication: "), "{err}");
}

#[test]
fn every_truncation_is_detected() {
    let cs = 64;
    let cipher = ring_cipher(&key());
    let (summary, object) = seal(&data(3 * cs + 5), &*cipher, cs);
    let records = records(&object);
    for cut in 0..object.len() {
        let err = open(&object[..cut], &*cipher, &summary).unwrap_err();
        if cut < PREAMBLE_LEN {
            assert!(matches!(err, Error::Format(FormatError::TruncatedPreamble { .. })), "{err}");
        } else if let Some(index) = records.iter().position(|&(start, _, _)| start == cut) {
            assert!(
                matches!(err, Error::MissingChunks { expected: 4, found } if found == index as u64),
                "cut {cut}: {err}"
            );
        } else {
            let owner =
                records.iter().position(|&(start, _, end)| (start..end).contains(&cut)).unwrap();
            assert_eq!(err.chunk_index(), Some(owner as u64), "cut {cut}: {err}");
            assert!(matches!(err, Error::Format(_)), "cut {cut}: {err}");
        }
    }
}

#[test]
fn reordered_dropped_and_extra_chunks_are_detected() {
    let cs = 64;
    let cipher = ring_cipher(&key());
    let plaintext = data(4 * cs);
    let (summary, object) = seal(&plaintext, &*cipher, cs);
    let records = records(&object);
    let record = |i: usize| &object[records[i].0..records[i].2];

    // Chunks 0 and 1 swapped.
    let mut swapped = object[..PREAMBLE_LEN].to_vec();
    for i in [1, 0, 2, 3] {
        swapped.extend_from_slice(record(i));
    }
    let err = open(&swapped, &*cipher, &summary).unwrap_err();
    assert!(matches!(err, Error::ChunkCorrupt { index: 0, .. }), "{err}");

    // The last chunk dropped.
    let dropped = &object[..records[3].0];
    let err = open(dropped, &*cipher, &summary).unwrap_err();
    assert!(matches!(err, Error::MissingChunks { expected: 4, found: 3 }), "{err}");

    // The last chunk dropped and the header cut to match: the new last chunk
    // was sealed as "not last", so its tag fails.
    let mut cut_header = summary.clone();
    cut_header.chunk_hashes.pop();
    cut_header.n_chunks -= 1;
    cut_header.content_hash = content_hash(&cut_header.chunk_hashes);
    let err = open(dropped, &*cipher, &cut_header).unwrap_err();
    assert!(matches!(err, Error::ChunkCorrupt { index: 2, .. }), "{err}");

    // A record appended after a full last chunk.
    let mut extra = object.clone();
    extra.extend_from_slice(record(3));
    let err = open(&extra, &*cipher, &summary).unwrap_err();
    assert!(matches!(err, Error::ExtraChunk { index: 4, expected: 4 }), "{err}");

    // A record appended after a short last chunk.
    let (short_summary, short_object) = seal(&data(cs + 1), &*cipher, cs);
    let mut extra = short_object.clone();
    extra.extend_from_slice(&short_object[PREAMBLE_LEN..]);
    let err = open(&extra, &*cipher, &short_summary).unwrap_err();
    assert!(matches!(err, Error::Format(FormatError::ShortChunkNotLast { index: 1, .. })), "{err}");

    // A chunk repeated in place of another.
    let mut repeated = object[..PREAMBLE_LEN].to_vec();
    for i in [0, 0, 2, 3] {
        repeated.extend_from_slice(record(i));
    }
    let err = open(&repeated, &*cipher, &summary).unwrap_err();
    assert!(matches!(err, Error::ChunkCorrupt { index: 1, .. }), "{err}");
}

#[test]
fn wrong_key_fails_at_chunk_zero() {
    let plaintext = data(500);
    let (summary, object) = seal(&plaintext, &*ring_cipher(&key()), 64);
    let other = DataKey::from_bytes([0x43; 32]);
    for cipher in [ring_cipher(&other), rustcrypto_cipher(&other)] {
        let err = open(&object, &*cipher, &summary).unwrap_err();
        assert!(
            matches!(err, Error::ChunkCorrupt { index: 0, reason: CorruptReason::Authentication }),
            "{err}"
        );
    }
}

#[test]
fn header_checks_come_before_any_output() {
    let cipher = ring_cipher(&key());
    let (summary, object) = seal(&data(300), &*cipher, 64);

    // The header's chunk hashes do not give the trusted root.
    let mut out = Vec::new();
    let chunks = ObjectReader::new(&object[..]).unwrap();
    let wrong_root = [0u8; 32];
    let err =
        open_stream(chunks, &*cipher, &summary.chunk_hashes, &wrong_root, &mut out).unwrap_err();
    assert!(matches!(err, Error::RootMismatch { .. }), "{err}");
    assert!(out.is_empty());

    // A header whose chunk hash 2 is wrong, with a root that matches it: the
    // chunk decrypts but its hash does not match, and only chunks 0 and 1 are written.
    let mut hashes = summary.chunk_hashes.clone();
    hashes[2][0] ^= 1;
    let root = content_hash(&hashes);
    let chunks = ObjectReader::new(&object[..]).unwrap();
    let err = open_stream(chunks, &*cipher, &hashes, &root, &mut out).unwrap_err();
    assert!(matches!(err, Error::ChunkHashMismatch { index: 2 }), "{err}");
    assert_eq!(out, data(128));
}

#[test]
fn chunk_sources_out_of_order_are_refused() {
    let cipher = ring_cipher(&key());
    let (summary, object) = seal(&data(200), &*cipher, 64);
    let mut chunks: Vec<_> = ObjectReader::new(&object[..]).unwrap().collect();
    chunks.swap(0, 1);
    let err = open_stream(
        chunks.into_iter(),
        &*cipher,
        &summary.chunk_hashes,
        &summary.content_hash,
        io::sink(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::ChunkOutOfOrder { expected: 0, found: 1 }), "{err}");
}

/// An input that counts the bytes read from it.
struct Counting<'a> {
    inner: &'a [u8],
    read: Arc<AtomicU64>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

/// The reader never runs further ahead of the sink than the credits allow,
/// even when the sink is slow and the input large.
#[test]
fn memory_stays_bounded_by_the_chunks_in_flight() {
    let chunk_size = 4096;
    let plaintext = data(300 * chunk_size + 17);
    let config = PipelineConfig { chunk_size, workers: 2, max_in_flight: 4 };
    let read = Arc::new(AtomicU64::new(0));
    let input = Counting { inner: &plaintext, read: Arc::clone(&read) };
    let mut delivered = 0u64;
    let mut worst = 0u64;
    let mut progress_seen = Vec::new();
    let summary = seal_stream(
        input,
        &*ring_cipher(&key()),
        &config,
        |chunk| {
            std::thread::sleep(std::time::Duration::from_micros(200));
            let ahead = read.load(Ordering::SeqCst) - delivered;
            worst = worst.max(ahead);
            delivered += chunk.plaintext_len;
            Ok(())
        },
        |bytes| progress_seen.push(bytes),
    )
    .unwrap();
    assert_eq!(summary.plaintext_bytes, plaintext.len() as u64);
    // At most max_in_flight chunk buffers, plus the one byte read past a full chunk.
    let bound = (config.max_in_flight * chunk_size) as u64 + 1;
    assert!(worst <= bound, "read {worst} bytes ahead, bound {bound}");
    assert!(worst > 2 * chunk_size as u64, "the pipeline should read ahead: {worst}");
    assert_eq!(progress_seen.len() as u64, summary.n_chunks);
    assert!(progress_seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(progress_seen.last().copied(), Some(plaintext.len() as u64));
}

/// An input that fails after some bytes.
struct Failing(usize);

impl Read for Failing {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buffer.len().min(self.0);
        buffer[..n].fill(7);
        self.0 -= n;
        Ok(n)
    }
}

#[test]
fn input_and_sink_failures_stop_sealing() {
    let cipher = ring_cipher(&key());
    let err = seal_stream(Failing(1000), &*cipher, &config(64), |_| Ok(()), |_| {}).unwrap_err();
    assert!(matches!(err, Error::Read(_)), "{err}");

    let plaintext = data(64 * 50);
    let mut calls = 0;
    let err = seal_stream(
        &plaintext[..],
        &*cipher,
        &config(64),
        |chunk| {
            calls += 1;
            if chunk.index == 5 { Err(Error::ConsumerStopped) } else { Ok(()) }
        },
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::ConsumerStopped), "{err}");
    assert_eq!(calls, 6);

    for bad in [
        PipelineConfig { chunk_size: 0, workers: 1, max_in_flight: 1 },
        PipelineConfig { chunk_size: 1, workers: 0, max_in_flight: 1 },
        PipelineConfig { chunk_size: 1, workers: 1, max_in_flight: 0 },
        PipelineConfig { chunk_size: (1 << 30) + 1, workers: 1, max_in_flight: 1 },
    ] {
        let err = seal_stream(&plaintext[..], &*cipher, &bad, |_| Ok(()), |_| {}).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn sealed_chunk_debug_shows_no_bytes() {
    let cipher = ring_cipher(&key());
    let mut seen = Vec::new();
    seal_stream(
        &b"secret rows"[..],
        &*cipher,
        &config(64),
        |chunk| {
            seen.push(format!("{chunk:?}"));
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(seen, ["SealedChunk { index: 0, plaintext_len: 11, ciphertext_len: 27, .. }"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_round_trips(
        len in 0usize..20_000,
        chunk_size in 1usize..3_000,
        workers in 1usize..4,
        max_in_flight in 1usize..6,
        seal_with_ring in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let plaintext: Vec<u8> = data(len).into_iter().map(|b| b ^ seed).collect();
        let config = PipelineConfig { chunk_size, workers, max_in_flight };
        let (ring, rust) = (ring_cipher(&key()), rustcrypto_cipher(&key()));
        let (sealer, opener) = if seal_with_ring { (&ring, &rust) } else { (&rust, &ring) };
        let mut writer = ObjectWriter::new(Vec::new(), chunk_size).unwrap();
        let summary = seal_stream(
            &plaintext[..], &**sealer, &config, |chunk| writer.write_chunk(chunk), |_| {},
        ).unwrap();
        let object = writer.finish().unwrap();
        prop_assert_eq!(summary.n_chunks, len.div_ceil(chunk_size) as u64);
        let by_hand: Vec<[u8; 32]> =
            plaintext.chunks(chunk_size).map(|c| Sha256::digest(c).into()).collect();
        prop_assert_eq!(&summary.chunk_hashes, &by_hand);

        let mut out = Vec::new();
        let chunks = ObjectReader::new_expecting(&object[..], chunk_size).unwrap();
        let opened = open_stream_with(
            chunks, &**opener, &summary.chunk_hashes, &summary.content_hash, &mut out, &config,
        ).unwrap();
        prop_assert_eq!(opened.plaintext_bytes, len as u64);
        prop_assert_eq!(out, plaintext);
    }
}
