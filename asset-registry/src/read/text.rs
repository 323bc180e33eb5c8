//! Directory search in memory, with the answers of PostgreSQL's full-text
//! search for plain words.
//!
//! The PostgreSQL directory matches `websearch_to_tsquery('simple', text)`
//! against `setweight(to_tsvector('simple', name), 'A') ||
//! setweight(to_tsvector('simple', description), 'B')` and ranks with
//! `ts_rank`. This module reproduces that for text made of words of letters
//! and digits separated by spaces and punctuation (and paths such as
//! `health/clinics`, one lexeme as in PostgreSQL): a word is a lexeme,
//! lowercased, at position 1, 2, … in the name and, shifted past the name's
//! last position, in the description. The rank follows `calc_rank_or` (one
//! distinct word) and `calc_rank_and` (several) of PostgreSQL's
//! `tsrank.c`, in the same float and double steps, so that both stores
//! answer the same number. Query syntax (`"phrases"`, `or`, `-word`) and
//! compound tokens (hyphenated words, paths, e-mail addresses) are not
//! reproduced.

use std::collections::BTreeMap;

/// `ts_rank`'s default weights of D, C, B and A.
const WEIGHT_A: f32 = 1.0;
const WEIGHT_B: f32 = 0.4;

/// The largest position PostgreSQL stores (`MAXENTRYPOS - 1`).
const MAX_POSITION: u32 = (1 << 14) - 1;

/// The lexemes of `text`, lowercased, in order: words of letters and
/// digits, and paths of such words joined by `/` (`health/clinics`, which
/// PostgreSQL's parser reads as one file token).
pub(super) fn lexemes(text: &str) -> Vec<String> {
    let mut lexemes = Vec::new();
    for piece in text.split(|c: char| !c.is_alphanumeric() && c != '/') {
        let segments: Vec<&str> = piece.split('/').collect();
        if segments.len() > 1 && segments.iter().all(|segment| !segment.is_empty()) {
            lexemes.push(piece.to_lowercase());
        } else {
            lexemes.extend(segments.iter().filter(|s| !s.is_empty()).map(|s| s.to_lowercase()));
        }
    }
    lexemes
}

/// A document: each lexeme with its positions (ascending) and their weights.
#[derive(Clone, Debug, Default)]
pub(super) struct Document {
    positions: BTreeMap<String, Vec<(u32, f32)>>,
}

impl Document {
    /// The document of an asset's name (weight A) and description (weight B).
    pub(super) fn of(name: &str, description: &str) -> Document {
        let mut document = Document::default();
        let name_lexemes = lexemes(name);
        let shift = name_lexemes.len() as u32;
        for (idx, lexeme) in name_lexemes.into_iter().enumerate() {
            document.add(lexeme, idx as u32 + 1, WEIGHT_A);
        }
        for (idx, lexeme) in lexemes(description).into_iter().enumerate() {
            document.add(lexeme, shift + idx as u32 + 1, WEIGHT_B);
        }
        document
    }

    fn add(&mut self, lexeme: String, position: u32, weight: f32) {
        let positions = self.positions.entry(lexeme).or_default();
        positions.push((position.min(MAX_POSITION), weight));
    }

    /// Whether every word of the query is in the document (and there is one).
    pub(super) fn matches(&self, query: &[String]) -> bool {
        !query.is_empty() && query.iter().all(|word| self.positions.contains_key(word))
    }

    /// `ts_rank(document, query)` with the default weights and no normalisation.
    pub(super) fn rank(&self, query: &[String]) -> f32 {
        if self.positions.is_empty() || query.is_empty() {
            return 0.0;
        }
        let mut words: Vec<&str> = query.iter().map(String::as_str).collect();
        words.sort_unstable();
        words.dedup();
        let rank = if words.len() > 1 { self.rank_and(&words) } else { self.rank_or(&words) };
        if rank < 0.0 { 1e-20 } else { rank }
    }

    /// `calc_rank_or`.
    fn rank_or(&self, words: &[&str]) -> f32 {
        let mut rank: f32 = 0.0;
        for word in words {
            let Some(positions) = self.positions.get(*word) else { continue };
            let mut sum: f32 = 0.0;
            let mut max_weight: f32 = -1.0;
            let mut max_idx: i32 = 0;
            for (idx, (_, weight)) in positions.iter().enumerate() {
                let nth = idx as i32 + 1;
                sum += *weight / (nth * nth) as f32;
                if *weight > max_weight {
                    max_weight = *weight;
                    max_idx = idx as i32;
                }
            }
            let nth = max_idx + 1;
            let term: f32 = max_weight + sum - max_weight / (nth * nth) as f32;
            rank = (f64::from(rank) + f64::from(term) / 1.644_934_066_85) as f32;
        }
        rank / words.len() as f32
    }

    /// `calc_rank_and`: each pair of positions of different words adds to
    /// the rank by their weights and distance.
    fn rank_and(&self, words: &[&str]) -> f32 {
        let mut rank: f32 = -1.0;
        let found: Vec<Option<&Vec<(u32, f32)>>> =
            words.iter().map(|word| self.positions.get(*word)).collect();
        for (word_idx, current) in found.iter().enumerate() {
            let Some(current) = current else { continue };
            for earlier in found[..word_idx].iter().flatten() {
                for (position, weight) in current.iter() {
                    for (earlier_position, earlier_weight) in earlier.iter() {
                        let distance = position.abs_diff(*earlier_position);
                        if distance == 0 {
                            continue;
                        }
                        let product: f32 = *weight * *earlier_weight * word_distance(distance);
                        let partial = f64::from(product).sqrt() as f32;
                        rank = if rank < 0.0 {
                            partial
                        } else {
                            (1.0 - (1.0 - f64::from(rank)) * (1.0 - f64::from(partial))) as f32
                        };
                    }
                }
            }
        }
        rank
    }
}

/// `word_distance` of `tsrank.c`.
fn word_distance(distance: u32) -> f32 {
    if distance > 100 {
        return 1e-30;
    }
    (1.0 / (1.005 + 0.05 * ((f64::from(distance as f32)) / 1.5 - 2.0).exp())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(name: &str, description: &str, query: &str) -> f32 {
        Document::of(name, description).rank(&lexemes(query))
    }

    #[test]
    fn lexemes_are_lowercased_words() {
        assert_eq!(
            lexemes("Clinics, of the  North-East 2024!"),
            ["clinics", "of", "the", "north", "east", "2024"]
        );
    }

    #[test]
    fn ranks_match_postgresql() {
        // Values printed by PostgreSQL 15 for the same name, description and query.
        assert_eq!(rank("clinics", "", "clinics"), 0.6079271);
        assert_eq!(rank("", "clinics", "clinics"), 0.24317084);
        assert_eq!(rank("no", "match", "clinics"), 0.0);
    }
}
