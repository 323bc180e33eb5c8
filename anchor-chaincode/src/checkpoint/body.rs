//! The checkpoint body: a log's origin, size, root hash and extension lines,
//! formatted and parsed as C2SP `tlog-checkpoint` text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{MAX_NOTE_SIZE, NoteError, check_text, excerpt};
use crate::merkle::Hash;

/// A transparency-log checkpoint: the signed statement of a log's size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, for example `cairn.local/chain-1`; non-empty.
    pub origin: String,
    /// The number of leaves in the log.
    pub size: u64,
    /// The RFC 6962 root of the first `size` leaves.
    pub root: Hash,
    /// Optional extension lines, without their newlines; each non-empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Returns the checkpoint body: origin, size, base64 root and extension
    /// lines, each followed by a newline.
    ///
    /// The fields are not checked; see [`Checkpoint::validate`].
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Checks that [`Checkpoint::body`] gives text that
    /// [`Checkpoint::parse_body`] turns back into this same checkpoint.
    ///
    /// The origin and extension lines must be non-empty and free of control
    /// characters, newline included, and the body must fit in
    /// [`MAX_NOTE_SIZE`].
    pub fn validate(&self) -> Result<(), NoteError> {
        if self.origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        let lines = std::iter::once((1, self.origin.as_str()))
            .chain(self.extensions.iter().enumerate().map(|(i, e)| (i + 4, e.as_str())));
        for (line, text) in lines {
            if text.is_empty() {
                return Err(NoteError::EmptyExtensionLine { line });
            }
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(NoteError::ControlCharacter { line, code: u32::from(c) });
            }
        }
        let size = self.body().len();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge { size, max: MAX_NOTE_SIZE });
        }
        Ok(())
    }

    /// Parses a checkpoint body strictly.
    ///
    /// This only parses; it does not check any signature. Use
    /// [`open_checkpoint`](super::open_checkpoint) on a signed note.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        let Some(content) = text.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline);
        };
        let lines: Vec<&str> = content.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(NoteError::TooFewLines { found: lines.len() });
        };
        if origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        let size = parse_tree_size(size)?;
        let root = parse_root_hash(root)?;
        if let Some(i) = extensions.iter().position(|e| e.is_empty()) {
            return Err(NoteError::EmptyExtensionLine { line: i + 4 });
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }
}

/// Parses a canonical decimal tree size: digits only, no leading zeros
/// except for `0` itself, at most `u64::MAX`.
fn parse_tree_size(text: &str) -> Result<u64, NoteError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    match text.parse::<u64>() {
        Ok(size) if canonical => Ok(size),
        _ => Err(NoteError::InvalidTreeSize { text: excerpt(text) }),
    }
}

/// Parses a root hash: canonical padded standard base64 of exactly 32 bytes.
fn parse_root_hash(text: &str) -> Result<Hash, NoteError> {
    let bytes = STANDARD.decode(text).map_err(|e| NoteError::InvalidRootHashEncoding {
        text: excerpt(text),
        detail: e.to_string(),
    })?;
    let len = bytes.len();
    Hash::try_from(bytes).map_err(|_| NoteError::RootHashLength { len })
}
