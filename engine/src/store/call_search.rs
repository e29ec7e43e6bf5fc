//! Searching the call log's transcripts (SQLite FTS5's `transcript_fts`, PostgreSQL's `tsv`
//! columns): what a person typed turned into a query that cannot be a syntax error, and the
//! best matching line of each call found, its words marked (`Marker`, folding case and
//! accents as the index does).

use super::db;
use serde::Serialize;
use utoipa::ToSchema;

use super::Store;
use super::error::Result;
use crate::domain::{Speaker, Timestamp};

/// A search looks at this many of the newest matching calls at most: on a big log a common
/// word is in most calls, and counting them all would cost a scan of the whole index.
pub const SEARCH_CAP: u32 = 2_000;
/// At most this many words of a search are used.
const MAX_WORDS: usize = 10;

/// What was typed, as words to search for: runs of letters and digits (punctuation and
/// control characters, NUL included, are left out), so nothing typed is query syntax; all of
/// them required, the last one also as a prefix ("refu" finds "refund" while typing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    words: Vec<String>,
}

impl SearchText {
    /// `None` when nothing searchable was typed.
    pub fn parse(typed: &str) -> Option<Self> {
        let words: Vec<String> = words(typed)
            .into_iter()
            .map(|(a, b)| typed[a..b].to_owned())
            .take(MAX_WORDS)
            .collect();
        (!words.is_empty()).then_some(Self { words })
    }

    /// As an FTS5 query: each word a quoted phrase, the last a prefix.
    pub fn fts5(&self) -> String {
        let mut out = self
            .words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" ");
        out.push('*');
        out
    }

    /// The words for PostgreSQL, spaced: `PG_MATCH` folds and splits them as the `tsv`
    /// columns were (`sb_words`), ANDs them and makes the last a prefix.
    pub fn spaced(&self) -> String {
        self.words.join(" ")
    }
}

/// `tsv` (a column of PostgreSQL's) has `SearchText::spaced`, bound at `?`: plainto_tsquery
/// ANDs the words, and `:*` after its last makes that one a prefix.
pub const PG_MATCH: &str =
    "tsv @@ (nullif(plainto_tsquery('simple', sb_words(?))::text, '') || ':*')::tsquery";

/// What was typed, as an FTS5 query (see `SearchText`).
pub fn fts_query(typed: &str) -> Option<String> {
    SearchText::parse(typed).map(|s| s.fts5())
}

/// A piece of a snippet: the text, and whether it is a matched word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// A call's best matching transcript line for a search.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TranscriptMatch {
    pub call_id: String,
    pub line_id: i64,
    pub speaker: Speaker,
    pub at: Timestamp,
    /// The words around the match, in order; `hit` parts are what the search found.
    pub parts: Vec<SnippetPart>,
}

/// A call whose analysis summary matches a search.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SummaryMatch {
    pub call_id: String,
    /// The summary around the match, in order; `hit` parts are what the search found.
    pub parts: Vec<SnippetPart>,
}

/// A word as a search compares it: lower case, accents off ("Café" is "cafe").
fn fold(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text` (runs of letters and digits), with where each is.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// What a search's words mark in a line: each of them, the last also as a word's start (as
/// `fts_query` matches them).
#[derive(Debug)]
pub struct Marker {
    terms: Vec<String>,
}

impl Marker {
    pub fn new(typed: &str) -> Self {
        let terms = words(typed)
            .into_iter()
            .map(|(a, b)| fold(&typed[a..b]))
            .take(MAX_WORDS * 4)
            .collect();
        Self { terms }
    }

    fn hits(&self, word: &str) -> bool {
        let w = fold(word);
        let last = self.terms.len().saturating_sub(1);
        self.terms
            .iter()
            .enumerate()
            .any(|(i, t)| w == *t || (i == last && w.starts_with(t.as_str())))
    }

    /// `text` in parts, the matched words marked; a long line is cut around its first match.
    fn parts(&self, text: &str) -> (usize, Vec<SnippetPart>) {
        let spans = words(text);
        let hits: Vec<(usize, usize)> = spans
            .into_iter()
            .filter(|(a, b)| self.hits(&text[*a..*b]))
            .collect();
        let distinct = {
            let mut seen: Vec<String> = hits.iter().map(|(a, b)| fold(&text[*a..*b])).collect();
            seen.sort();
            seen.dedup();
            seen.len()
        };
        // Around the first match, within a window of about 240 characters.
        let (mut from, mut to) = (0, text.len());
        if text.len() > 240
            && let Some((a, _)) = hits.first()
        {
            from = text[..*a]
                .char_indices()
                .rev()
                .nth(80)
                .map_or(0, |(i, _)| i);
            to = text[*a..]
                .char_indices()
                .nth(160)
                .map_or(text.len(), |(i, _)| a + i);
        }
        let mut parts = Vec::new();
        let mut at = from;
        if from > 0 {
            parts.push(SnippetPart {
                text: "…".into(),
                hit: false,
            });
        }
        for (a, b) in hits.iter().filter(|(a, b)| *a >= from && *b <= to) {
            if *a > at {
                parts.push(SnippetPart {
                    text: text[at..*a].to_owned(),
                    hit: false,
                });
            }
            parts.push(SnippetPart {
                text: text[*a..*b].to_owned(),
                hit: true,
            });
            at = *b;
        }
        if at < to {
            parts.push(SnippetPart {
                text: text[at..to].to_owned(),
                hit: false,
            });
        }
        if to < text.len() {
            parts.push(SnippetPart {
                text: "…".into(),
                hit: false,
            });
        }
        (distinct, parts)
    }
}

impl Store {
    /// For each of `call_ids`, its line that holds the most of the search's words, those
    /// marked. Read from the calls' own lines (a few hundred rows), not the index: asking
    /// the index about a few lines still walks a common word's whole list.
    pub async fn transcript_matches(
        &self,
        marker: &Marker,
        call_ids: &[String],
    ) -> Result<Vec<TranscriptMatch>> {
        if call_ids.is_empty() || marker.terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = db::Builder::new(
            "SELECT call_id, id, speaker, text, at FROM transcript_lines WHERE call_id IN (",
        );
        let mut list = q.separated(", ");
        for id in call_ids {
            list.push_bind(id.clone());
        }
        q.push(") ORDER BY call_id, at, id");
        let rows: Vec<(String, i64, String, String, i64)> =
            q.build_query_as().fetch_all(self.pool()).await?;
        let mut best: Vec<(usize, TranscriptMatch)> = Vec::new();
        for (call_id, line_id, speaker, text, at) in rows {
            let Some(speaker) = Speaker::parse(&speaker) else {
                continue;
            };
            let (score, parts) = marker.parts(&text);
            if score == 0 {
                continue;
            }
            let found = TranscriptMatch {
                call_id,
                line_id,
                speaker,
                at: Timestamp::from_millis(at),
                parts,
            };
            match best.iter_mut().find(|(_, m)| m.call_id == found.call_id) {
                Some(b) if b.0 < score => *b = (score, found),
                Some(_) => {}
                None => best.push((score, found)),
            }
        }
        Ok(call_ids
            .iter()
            .filter_map(|id| {
                best.iter()
                    .position(|(_, m)| &m.call_id == id)
                    .map(|i| best[i].1.clone())
            })
            .collect())
    }
}

impl Store {
    /// For each of `call_ids` whose analysis summary holds the search's words, the summary
    /// with them marked.
    pub async fn summary_matches(
        &self,
        marker: &Marker,
        call_ids: &[String],
    ) -> Result<Vec<SummaryMatch>> {
        if call_ids.is_empty() || marker.terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = db::Builder::new(
            "SELECT call_id, summary FROM call_analyses WHERE summary IS NOT NULL AND call_id IN (",
        );
        let mut list = q.separated(", ");
        for id in call_ids {
            list.push_bind(id.clone());
        }
        q.push(")");
        let rows: Vec<(String, String)> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(call_ids
            .iter()
            .filter_map(|id| {
                let (_, summary) = rows.iter().find(|(c, _)| c == id)?;
                let (score, parts) = marker.parts(summary);
                (score > 0).then(|| SummaryMatch {
                    call_id: id.clone(),
                    parts,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_typed_cannot_break_the_query() {
        assert_eq!(
            fts_query("refund order").as_deref(),
            Some("\"refund\" \"order\"*")
        );
        assert_eq!(
            fts_query("say \"hi\" AND( x*").as_deref(),
            Some("\"say\" \"hi\" \"AND\" \"x\"*")
        );
        assert_eq!(
            fts_query("G)\u{0}Ò\u{16}x").as_deref(),
            Some("\"G\" \"Ò\" \"x\"*"),
            "NUL and control characters end a word"
        );
        assert_eq!(fts_query("  * ( \" "), None);
        assert_eq!(fts_query(""), None);
    }

    #[test]
    fn on_postgresql_only_the_words_are_given() {
        let q = SearchText::parse("Café 'x' OR(refu").unwrap();
        assert_eq!(q.spaced(), "Café x OR refu");
    }

    #[test]
    fn a_line_comes_apart_into_the_words_found_and_the_rest() {
        let m = Marker::new("Cafe ord");
        let (score, parts) = m.parts("Is the Café open? My order, please.");
        assert_eq!(score, 2);
        let hits: Vec<&str> = parts
            .iter()
            .filter(|p| p.hit)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(hits, ["Café", "order"]);
        let whole: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(whole, "Is the Café open? My order, please.");
        let long = format!("{} refund {}", "blah ".repeat(60), "more ".repeat(60));
        let (_, parts) = Marker::new("refund").parts(&long);
        assert_eq!(parts.first().map(|p| p.text.as_str()), Some("…"));
        assert_eq!(parts.last().map(|p| p.text.as_str()), Some("…"));
        assert!(parts.iter().any(|p| p.hit && p.text == "refund"));
    }
}
