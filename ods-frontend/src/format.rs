//! The byte layout of a sealed object, with a streaming writer and reader.
//!
//! # Layout
//!
//! All integers are big-endian.
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `"CAIRNODS"` (`43 41 49 52 4e 4f 44 53`) |
//! | 8 | 2 | format version, `u16`, currently 1 |
//! | 10 | 4 | chunk size, `u32`: plaintext bytes per chunk, 1 to [`MAX_CHUNK_SIZE`] |
//! | 14 | … | the chunk records, in index order from chunk 0 |
//!
//! Chunk record `i`: a `u32` ciphertext length `L`, then `L` bytes of
//! AES-256-GCM output (ciphertext followed by the 16-byte tag, see
//! [`crate::aead`]). Every chunk but the last holds exactly `chunk size`
//! plaintext bytes, so `L = chunk size + 16`; the last holds 1 to
//! `chunk size` bytes. The object ends right after the last record: there is
//! no trailer and no chunk count. Empty plaintext gives zero records, an
//! object of just the 14-byte preamble.
//!
//! The object holds no plaintext metadata beyond these sizes: no chunk
//! hashes, no names, no content hash. The chunk hashes and the content hash
//! travel in the version's header (see [`crate::pipeline::content_hash`]).
//!
//! # What the reader checks
//!
//! [`ObjectReader`] checks the preamble, that each length is in range, that a
//! short chunk is the last, and that the object does not end inside a field.
//! It cannot see a cut at a record boundary or a changed ciphertext: those are
//! caught when the chunks are opened ([`crate::pipeline::open_stream`]), by the
//! chunk count of the header, the `is_last` flag bound into every tag, and the
//! tags themselves.

use std::io::{self, Read, Write};

use crate::aead::TAG_LEN;
use crate::error::{Error, FormatError};
use crate::pipeline::SealedChunk;

/// The magic bytes every sealed object starts with.
pub const MAGIC: [u8; 8] = *b"CAIRNODS";

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// The length of the preamble in bytes.
pub const PREAMBLE_LEN: usize = 14;

/// The length of a chunk record's length field in bytes.
pub const LENGTH_FIELD_LEN: usize = 4;

/// The largest chunk size: 1 GiB, far below AES-GCM's 64 GiB message limit.
pub const MAX_CHUNK_SIZE: u32 = 1 << 30;

/// Returns the preamble of an object with the given chunk size.
pub fn preamble(chunk_size: u32) -> [u8; PREAMBLE_LEN] {
    let mut bytes = [0u8; PREAMBLE_LEN];
    bytes[..8].copy_from_slice(&MAGIC);
    bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    bytes[10..].copy_from_slice(&chunk_size.to_be_bytes());
    bytes
}

/// Checks a chunk size against the format's range and converts it to `u32`.
pub fn check_chunk_size(chunk_size: usize) -> Result<u32, Error> {
    match u32::try_from(chunk_size) {
        Ok(size) if (1..=MAX_CHUNK_SIZE).contains(&size) => Ok(size),
        _ => Err(Error::InvalidConfig(format!(
            "chunk size {chunk_size} is outside 1..={MAX_CHUNK_SIZE}"
        ))),
    }
}

/// Turns sealed chunks into the bytes of chunk records, checking that they
/// arrive in order and follow the layout.
///
/// [`ObjectWriter`] writes through it; an upload that sends byte buffers uses
/// it directly.
#[derive(Debug)]
pub struct ObjectEncoder {
    /// The chunk size of the object.
    chunk_size: u32,
    /// The index the next chunk must have.
    next_index: u64,
    /// Whether a chunk shorter than the chunk size was seen, which must be the last.
    saw_short_chunk: bool,
}

impl ObjectEncoder {
    /// Starts an object with the given chunk size.
    pub fn new(chunk_size: usize) -> Result<ObjectEncoder, Error> {
        Ok(ObjectEncoder {
            chunk_size: check_chunk_size(chunk_size)?,
            next_index: 0,
            saw_short_chunk: false,
        })
    }

    /// Returns the object's preamble.
    pub fn preamble(&self) -> [u8; PREAMBLE_LEN] {
        preamble(self.chunk_size)
    }

    /// Checks the next chunk and returns its record: the length field and the
    /// ciphertext, which is moved, not copied.
    pub fn encode(
        &mut self,
        chunk: SealedChunk,
    ) -> Result<([u8; LENGTH_FIELD_LEN], Vec<u8>), Error> {
        let index = chunk.index;
        let invalid = |what: String| Error::InvalidConfig(format!("chunk {index} {what}"));
        if index != self.next_index {
            return Err(Error::ChunkOutOfOrder { expected: self.next_index, found: index });
        }
        if self.saw_short_chunk {
            return Err(invalid("follows a chunk shorter than the chunk size".into()));
        }
        let chunk_size = u64::from(self.chunk_size);
        if chunk.plaintext_len == 0 || chunk.plaintext_len > chunk_size {
            return Err(invalid(format!(
                "has {} plaintext bytes, outside 1..={chunk_size}",
                chunk.plaintext_len
            )));
        }
        let expected_len = chunk.plaintext_len + TAG_LEN as u64;
        if chunk.ciphertext.len() as u64 != expected_len {
            return Err(invalid(format!(
                "has {} ciphertext bytes, not {expected_len}",
                chunk.ciphertext.len()
            )));
        }
        // The check above bounds the length by MAX_CHUNK_SIZE + TAG_LEN.
        let length = u32::try_from(expected_len).map_err(|_| invalid("is too long".into()))?;
        self.saw_short_chunk = chunk.plaintext_len < chunk_size;
        self.next_index += 1;
        Ok((length.to_be_bytes(), chunk.ciphertext))
    }

    /// Returns the number of chunks encoded so far.
    pub fn chunks_written(&self) -> u64 {
        self.next_index
    }
}

/// Writes a sealed object to a byte sink, one chunk at a time.
#[derive(Debug)]
pub struct ObjectWriter<W: Write> {
    /// Where the bytes go.
    inner: W,
    /// The record encoder.
    encoder: ObjectEncoder,
}

impl<W: Write> ObjectWriter<W> {
    /// Writes the preamble and returns a writer for the chunks.
    pub fn new(mut inner: W, chunk_size: usize) -> Result<ObjectWriter<W>, Error> {
        let encoder = ObjectEncoder::new(chunk_size)?;
        inner.write_all(&encoder.preamble()).map_err(Error::Write)?;
        Ok(ObjectWriter { inner, encoder })
    }

    /// Appends the next chunk's record.
    pub fn write_chunk(&mut self, chunk: SealedChunk) -> Result<(), Error> {
        let (length, ciphertext) = self.encoder.encode(chunk)?;
        self.inner.write_all(&length).map_err(Error::Write)?;
        self.inner.write_all(&ciphertext).map_err(Error::Write)
    }

    /// Flushes the sink and returns it.
    pub fn finish(mut self) -> Result<W, Error> {
        self.inner.flush().map_err(Error::Write)?;
        Ok(self.inner)
    }
}

/// Reads a sealed object as an iterator of `(index, ciphertext)` records.
///
/// The iterator stops after the first error.
#[derive(Debug)]
pub struct ObjectReader<R: Read> {
    /// Where the bytes come from.
    inner: R,
    /// The chunk size from the preamble.
    chunk_size: u32,
    /// The index of the next record.
    next_index: u64,
    /// The byte offset of the next record.
    offset: u64,
    /// The index of the previous record if it was short, so must be the last.
    short_chunk: Option<u64>,
    /// Whether the end or an error was reached.
    done: bool,
}

impl<R: Read> ObjectReader<R> {
    /// Reads and checks the preamble.
    pub fn new(mut inner: R) -> Result<ObjectReader<R>, Error> {
        let mut bytes = [0u8; PREAMBLE_LEN];
        let got = read_full(&mut inner, &mut bytes)?;
        if bytes[..got.min(MAGIC.len())] != MAGIC[..got.min(MAGIC.len())] {
            return Err(FormatError::BadMagic.into());
        }
        if got < PREAMBLE_LEN {
            return Err(FormatError::TruncatedPreamble { len: got as u64 }.into());
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { version }.into());
        }
        let chunk_size = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
        if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(FormatError::BadChunkSize { chunk_size, max: MAX_CHUNK_SIZE }.into());
        }
        Ok(ObjectReader {
            inner,
            chunk_size,
            next_index: 0,
            offset: PREAMBLE_LEN as u64,
            short_chunk: None,
            done: false,
        })
    }

    /// Reads the preamble and checks that its chunk size is the header's.
    ///
    /// Openers should use this: the preamble's chunk size is not covered by
    /// any tag, so only the comparison with the header catches a change to it.
    pub fn new_expecting(inner: R, chunk_size: usize) -> Result<ObjectReader<R>, Error> {
        let expected = check_chunk_size(chunk_size)?;
        let reader = ObjectReader::new(inner)?;
        if reader.chunk_size != expected {
            return Err(
                FormatError::ChunkSizeMismatch { expected, found: reader.chunk_size }.into()
            );
        }
        Ok(reader)
    }

    /// Returns the chunk size from the preamble.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Reads the next record, or `None` at a clean end of the object.
    fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, Error> {
        let index = self.next_index;
        let mut length = [0u8; LENGTH_FIELD_LEN];
        let got = read_full(&mut self.inner, &mut length)?;
        if got == 0 {
            return Ok(None);
        }
        if let Some(short) = self.short_chunk {
            return Err(FormatError::ShortChunkNotLast { index: short, offset: self.offset }.into());
        }
        if got < LENGTH_FIELD_LEN {
            return Err(FormatError::TruncatedLength { index, offset: self.offset }.into());
        }
        let length = u32::from_be_bytes(length);
        let (min, max) = (TAG_LEN as u32 + 1, self.chunk_size + TAG_LEN as u32);
        if !(min..=max).contains(&length) {
            return Err(FormatError::BadChunkLength {
                index,
                offset: self.offset,
                length,
                min,
                max,
            }
            .into());
        }
        let data_offset = self.offset + LENGTH_FIELD_LEN as u64;
        let mut ciphertext = Vec::with_capacity(length as usize);
        (&mut self.inner)
            .take(u64::from(length))
            .read_to_end(&mut ciphertext)
            .map_err(FormatError::Io)?;
        if ciphertext.len() < length as usize {
            return Err(FormatError::TruncatedChunk {
                index,
                offset: data_offset,
                expected: length,
                found: ciphertext.len() as u64,
            }
            .into());
        }
        if length < max {
            self.short_chunk = Some(index);
        }
        self.offset = data_offset + u64::from(length);
        self.next_index += 1;
        Ok(Some((index, ciphertext)))
    }
}

impl<R: Read> Iterator for ObjectReader<R> {
    type Item = Result<(u64, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_record().transpose();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

/// Reads until `buffer` is full or the input ends, returning the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(FormatError::Io(error).into()),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sealed chunk with `len` plaintext bytes (the ciphertext is not real).
    fn chunk(index: u64, len: usize) -> SealedChunk {
        SealedChunk {
            index,
            plaintext_sha256: [0; 32],
            plaintext_len: len as u64,
            ciphertext: vec![index as u8; len + TAG_LEN],
        }
    }

    fn object(chunk_size: usize, lens: &[usize]) -> Vec<u8> {
        let mut writer = ObjectWriter::new(Vec::new(), chunk_size).unwrap();
        for (i, &len) in lens.iter().enumerate() {
            writer.write_chunk(chunk(i as u64, len)).unwrap();
        }
        writer.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        ObjectReader::new(bytes)?.collect()
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = object(4, &[4, 2]);
        let mut expected = b"CAIRNODS\x00\x01\x00\x00\x00\x04".to_vec();
        expected.extend_from_slice(&20u32.to_be_bytes());
        expected.extend_from_slice(&[0; 20]);
        expected.extend_from_slice(&18u32.to_be_bytes());
        expected.extend_from_slice(&[1; 18]);
        assert_eq!(bytes, expected);
        let records = read_all(&bytes).unwrap();
        assert_eq!(records, vec![(0, vec![0; 20]), (1, vec![1; 18])]);
        assert_eq!(object(4, &[]), b"CAIRNODS\x00\x01\x00\x00\x00\x04");
        assert!(read_all(&object(4, &[])).unwrap().is_empty());
    }

    #[test]
    fn writer_refuses_what_the_layout_forbids() {
        let mut writer = ObjectWriter::new(Vec::new(), 4).unwrap();
        assert!(matches!(
            writer.write_chunk(chunk(1, 4)),
            Err(Error::ChunkOutOfOrder { expected: 0, found: 1 })
        ));
        assert!(writer.write_chunk(chunk(0, 5)).is_err());
        assert!(writer.write_chunk(chunk(0, 0)).is_err());
        writer.write_chunk(chunk(0, 3)).unwrap();
        assert!(writer.write_chunk(chunk(1, 4)).is_err(), "a short chunk must be the last");
        assert!(ObjectWriter::new(Vec::new(), 0).is_err());
        assert!(ObjectWriter::new(Vec::new(), MAX_CHUNK_SIZE as usize + 1).is_err());
    }

    #[test]
    fn reader_names_the_broken_field() {
        let good = object(4, &[4, 4, 1]);
        let err = |bytes: &[u8]| read_all(bytes).unwrap_err();

        assert!(matches!(
            err(b"CAIRNOD"),
            Error::Format(FormatError::TruncatedPreamble { len: 7 })
        ));
        assert!(matches!(err(b"XAIRNODS"), Error::Format(FormatError::BadMagic)));
        assert!(matches!(err(b""), Error::Format(FormatError::TruncatedPreamble { len: 0 })));
        let mut bad = good.clone();
        bad[9] = 2;
        assert!(matches!(err(&bad), Error::Format(FormatError::UnsupportedVersion { version: 2 })));
        let mut bad = good.clone();
        bad[10..14].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            err(&bad),
            Error::Format(FormatError::BadChunkSize { chunk_size: 0, .. })
        ));
        assert!(matches!(
            ObjectReader::new_expecting(&good[..], 5).unwrap_err(),
            Error::Format(FormatError::ChunkSizeMismatch { expected: 5, found: 4 })
        ));

        // A length field beyond the chunk size, in chunk 1 (offset 14 + 24).
        let mut bad = good.clone();
        bad[38..42].copy_from_slice(&21u32.to_be_bytes());
        let e = err(&bad);
        assert!(
            matches!(e, Error::Format(FormatError::BadChunkLength { index: 1, offset: 38, .. })),
            "{e}"
        );
        // A length field too short to hold a tag and a byte.
        bad[38..42].copy_from_slice(&16u32.to_be_bytes());
        assert!(matches!(err(&bad), Error::Format(FormatError::BadChunkLength { index: 1, .. })));
        // A short chunk 0 followed by more bytes.
        let mut bad = good.clone();
        bad[14..18].copy_from_slice(&19u32.to_be_bytes());
        assert!(matches!(
            err(&bad),
            Error::Format(FormatError::ShortChunkNotLast { index: 0, offset: 37 })
        ));
        // Cuts inside a length field and inside a ciphertext.
        assert!(matches!(
            err(&good[..40]),
            Error::Format(FormatError::TruncatedLength { index: 1, offset: 38 })
        ));
        assert!(matches!(
            err(&good[..50]),
            Error::Format(FormatError::TruncatedChunk { index: 1, found: 8, expected: 20, .. })
        ));
        // A cut at a record boundary is not visible here (the opener sees it).
        assert_eq!(read_all(&good[..38]).unwrap().len(), 1);
    }

    #[test]
    fn reader_stops_after_an_error() {
        let good = object(4, &[4, 4]);
        let mut reader = ObjectReader::new(&good[..40]).unwrap();
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
    }
}
