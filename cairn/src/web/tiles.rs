//! The transaction log as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>).
//!
//! The log is the ledger's RFC 6962 Merkle log (`anchor_chaincode::merkle`:
//! leaf hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || l || r)`),
//! one leaf per transaction of every block, valid or not. A leaf's data is
//! `anchor_chaincode::ledger::leaf_data`: block number (8 bytes BE), index in
//! the block (4 BE), validation code (2 BE), transaction id (32), envelope.
//!
//! - `GET /checkpoint`: the node's signed checkpoint of the whole log, the
//!   same note as gRPC `GetCheckpoint`; not cached.
//! - `GET /tile/<L>/<N>[.p/<W>]`: hash tiles. Tile `N` of level `L` holds
//!   the Merkle tree hashes at tree level `8·L`, indices `N·256 … N·256+W-1`.
//! - `GET /tile/entries/<N>[.p/<W>]`: entry bundles, each leaf's data with a
//!   big-endian `u16` length prefix, only with `--http-public-entries`.
//!
//! A full tile (no `.p/<W>`) has 256 hashes; a partial tile of width `W` is
//! served whenever the log holds its `W` hashes. Both never change once they
//! exist, so they are served with a year-long immutable cache lifetime.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Problem, WebState};

/// Hashes (or entries) in a full tile.
const TILE_WIDTH: u64 = 256;

/// How long full and partial tiles may be cached: they never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TilePath {
    /// The tile's index `N` within its level.
    pub(super) index: u64,
    /// `W` of a partial tile, 256 for a full one.
    pub(super) width: u64,
}

/// Why a path is not a tile path.
fn bad_path(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "tag:cairn,2026:bad-tile-path", detail)
}

/// A tile the log does not hold (yet).
fn no_tile(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "tag:cairn,2026:no-such-tile", detail)
}

/// Parses a decimal with no leading zeros, at most `max`.
fn canonical_decimal(text: &str, what: &str, max: u64) -> Result<u64, String> {
    let value = (!text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0')))
    .then(|| text.parse::<u64>().ok())
    .flatten()
    .filter(|v| *v <= max);
    value.ok_or_else(|| {
        format!("{what} {text:?} is not a decimal from 0 to {max} without leading zeros")
    })
}

/// Parses the level `L` of a hash tile: 0 to 63.
pub(super) fn parse_level(text: &str) -> Result<u32, String> {
    canonical_decimal(text, "tile level", 63).map(|l| l as u32)
}

/// Parses `<N>[.p/<W>]`: `N` in 3-digit groups, all but the last prefixed
/// with `x` and no leading `x000` group, `W` from 1 to 255.
pub(super) fn parse_index(segments: &[&str]) -> Result<TilePath, String> {
    let (groups, width) = match segments {
        [rest @ .., last, width] if last.ends_with(".p") => {
            let width = canonical_decimal(width, "partial tile width", 255)?;
            if width == 0 {
                return Err("partial tile width must be 1 to 255".into());
            }
            let last = last.trim_end_matches(".p");
            let mut groups: Vec<&str> = rest.to_vec();
            groups.push(last);
            (groups, width)
        }
        _ => (segments.to_vec(), TILE_WIDTH),
    };
    let Some((last, prefixed)) = groups.split_last() else {
        return Err("the tile index is missing".into());
    };
    if groups.len() > 7 {
        return Err(format!("the tile index has {} groups, more than a u64 needs", groups.len()));
    }
    if prefixed.first().is_some_and(|g| *g == "x000") {
        return Err("the tile index starts with x000: not the canonical encoding".into());
    }
    let mut index: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i < prefixed.len() {
            group.strip_prefix('x').ok_or_else(|| {
                format!("tile index group {group:?} must be x and 3 digits (all but the last)")
            })?
        } else {
            last
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("tile index group {group:?} must hold exactly 3 digits"));
        }
        let value: u64 = digits.parse().map_err(|_| format!("bad tile index group {group:?}"))?;
        index = index
            .checked_mul(1000)
            .and_then(|i| i.checked_add(value))
            .ok_or_else(|| "the tile index does not fit in 64 bits".to_owned())?;
    }
    Ok(TilePath { index, width })
}

/// The first index a tile covers at its level, and one past its last, if
/// both fit in 64 bits.
fn covered(tile: TilePath) -> Option<(u64, u64)> {
    let start = tile.index.checked_mul(TILE_WIDTH)?;
    Some((start, start.checked_add(tile.width)?))
}

/// `GET /checkpoint`: the signed note of the current log.
pub(super) async fn checkpoint(State(state): State<WebState>) -> Response {
    match state.node.signed_checkpoint(0) {
        Ok((_, note)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            note,
        )
            .into_response(),
        Err(e) => Problem::internal(format!("cannot sign a checkpoint: {e}")).into_response(),
    }
}

/// `GET /tile/<L>/<N>[.p/<W>]`.
pub(super) async fn hashes(State(state): State<WebState>, Path(path): Path<String>) -> Response {
    hash_tile(&state, &path).unwrap_or_else(IntoResponse::into_response)
}

fn hash_tile(state: &WebState, path: &str) -> Result<Response, Problem> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some((level, rest)) = segments.split_first() else {
        return Err(bad_path("the tile path is empty"));
    };
    let level = parse_level(level).map_err(bad_path)?;
    let tile = parse_index(rest).map_err(bad_path)?;
    let (start, end) = covered(tile).ok_or_else(|| no_tile("the tile lies beyond any tree"))?;
    // Tile level L holds the tree's hashes at height 8·L.
    let height = level * 8;
    let body = {
        let ledger = state.node.ledger();
        let log = ledger.merkle_log();
        let available = log.size().checked_shr(height).unwrap_or(0);
        if end > available {
            return Err(no_tile(format!(
                "tile {level}/{} of width {} needs {end} hashes at level {level}, the log of {} leaves has {available}",
                tile.index,
                tile.width,
                log.size()
            )));
        }
        let mut body = Vec::with_capacity((tile.width * 32) as usize);
        for index in start..end {
            let hash = log.subtree(height, index).ok_or_else(|| {
                Problem::internal(format!("the log has no hash at height {height} index {index}"))
            })?;
            body.extend_from_slice(&hash);
        }
        body
    };
    Ok(immutable(body))
}

/// `GET /tile/entries/<N>[.p/<W>]`.
pub(super) async fn entries(State(state): State<WebState>, Path(path): Path<String>) -> Response {
    if !state.public_entries {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "tag:cairn,2026:entries-not-public",
            "this node does not publish its log entries over HTTP (start it with --http-public-entries): they hold every envelope, including sharing rules the gRPC ledger reads show only to signed, authorised callers",
        )
        .into_response();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let tile = match parse_index(&segments) {
        Ok(tile) => tile,
        Err(e) => return bad_path(e).into_response(),
    };
    let Some((start, end)) = covered(tile) else {
        return no_tile("the entry bundle lies beyond any tree").into_response();
    };
    let size = state.node.ledger().merkle_log().size();
    if end > size {
        return no_tile(format!(
            "entry bundle {} of width {} needs {end} entries, the log has {size}",
            tile.index, tile.width
        ))
        .into_response();
    }
    let node = state.node.clone();
    let leaves = match tokio::task::spawn_blocking(move || node.leaf_data(start, end)).await {
        Ok(Ok(leaves)) => leaves,
        Ok(Err(e)) => {
            return Problem::internal(format!("cannot read the entries: {e}")).into_response();
        }
        Err(e) => {
            return Problem::internal(format!("cannot read the entries: {e}")).into_response();
        }
    };
    match bundle(start, &leaves) {
        Ok(body) => immutable(body),
        Err(problem) => problem.into_response(),
    }
}

/// The entry bundle of `leaves`, the first of which is leaf `start`.
fn bundle(start: u64, leaves: &[Vec<u8>]) -> Result<Vec<u8>, Problem> {
    let mut body = Vec::with_capacity(leaves.iter().map(|l| l.len() + 2).sum());
    for (i, leaf) in leaves.iter().enumerate() {
        let len = u16::try_from(leaf.len()).map_err(|_| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tag:cairn,2026:entry-too-large",
                format!(
                    "leaf {} is {} bytes, more than the 65535 a tlog-tiles entry bundle can frame",
                    start + i as u64,
                    leaf.len()
                ),
            )
        })?;
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(leaf);
    }
    Ok(body)
}

fn immutable(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, IMMUTABLE)], body)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(path: &str) -> Result<TilePath, String> {
        parse_index(&path.split('/').collect::<Vec<_>>())
    }

    #[test]
    fn tile_indexes_are_parsed_in_their_canonical_encoding_only() {
        assert_eq!(index("000"), Ok(TilePath { index: 0, width: 256 }));
        assert_eq!(index("067"), Ok(TilePath { index: 67, width: 256 }));
        assert_eq!(index("x001/x234/067"), Ok(TilePath { index: 1_234_067, width: 256 }));
        assert_eq!(index("x001/x234/067.p/8"), Ok(TilePath { index: 1_234_067, width: 8 }));
        assert_eq!(index("000.p/255"), Ok(TilePath { index: 0, width: 255 }));
        for bad in [
            "",
            "0",
            "67",
            "0067",
            "x067",
            "x000/067",
            "001/067",
            "x1/067",
            "06a",
            "067.p/0",
            "067.p/256",
            "067.p/08",
            "067.p/",
            "067.p",
            "x001/x002/x003/x004/x005/x006/x007/000",
            "x999/x999/x999/x999/x999/x999/999",
        ] {
            assert!(index(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn levels_are_decimals_from_0_to_63() {
        assert_eq!(parse_level("0"), Ok(0));
        assert_eq!(parse_level("63"), Ok(63));
        for bad in ["", "00", "01", "64", "-1", "x"] {
            assert!(parse_level(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bundles_frame_each_leaf_with_its_length() {
        assert_eq!(bundle(0, &[vec![7], vec![]]).unwrap(), vec![0, 1, 7, 0, 0]);
        assert!(bundle(5, &[vec![0; 65_536]]).is_err());
    }
}
