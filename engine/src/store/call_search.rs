//! Searching the call log's transcripts (SQLite FTS5, `transcript_fts`): what a person typed
//! turned into a query that cannot be a syntax error, and the best matching line of each call
//! found, its matched words marked.

use serde::Serialize;
use utoipa::ToSchema;

use super::Store;
use super::error::Result;
use crate::domain::{Speaker, Timestamp};

/// At most this many words of a search are used.
const MAX_WORDS: usize = 10;
/// Markers FTS5 puts around matched words in a snippet: private-use characters, which speech
/// transcripts do not hold (if one ever did, only a highlight would shift).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// What was typed, as an FTS5 query: each word a quoted phrase (so `"`, `AND`, `(`, `*` are
/// plain text), all of them required, the last one also matching as a prefix ("refu" finds
/// "refund" while typing). `None` when nothing searchable was typed.
pub fn fts_query(typed: &str) -> Option<String> {
    let words: Vec<&str> = typed
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_WORDS)
        .collect();
    let last = words.len().checked_sub(1)?;
    Some(
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let quoted = format!("\"{}\"", w.replace('"', "\"\""));
                if i == last {
                    format!("{quoted}*")
                } else {
                    quoted
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
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

fn parts(snippet: &str) -> Vec<SnippetPart> {
    let mut out = Vec::new();
    let mut rest = snippet;
    while !rest.is_empty() {
        match rest.find(OPEN) {
            Some(at) => {
                if at > 0 {
                    out.push(SnippetPart {
                        text: rest[..at].to_owned(),
                        hit: false,
                    });
                }
                let after = &rest[at + OPEN.len_utf8()..];
                let end = after.find(CLOSE).unwrap_or(after.len());
                out.push(SnippetPart {
                    text: after[..end].to_owned(),
                    hit: true,
                });
                rest = after.get(end + CLOSE.len_utf8()..).unwrap_or_default();
            }
            None => {
                out.push(SnippetPart {
                    text: rest.to_owned(),
                    hit: false,
                });
                break;
            }
        }
    }
    out
}

impl Store {
    /// For each of `call_ids`, its best matching line for `query` (an [`fts_query`]).
    pub async fn transcript_matches(
        &self,
        query: &str,
        call_ids: &[String],
    ) -> Result<Vec<TranscriptMatch>> {
        if call_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::new(format!(
            "SELECT t.call_id, t.id, t.speaker, t.at, \
             snippet(transcript_fts, 0, '{OPEN}', '{CLOSE}', '…', 16) \
             FROM transcript_fts JOIN transcript_lines t ON t.id = transcript_fts.rowid \
             WHERE transcript_fts MATCH "
        ));
        q.push_bind(query.to_owned()).push(" AND t.call_id IN (");
        let mut list = q.separated(", ");
        for id in call_ids {
            list.push_bind(id.clone());
        }
        q.push(") ORDER BY rank");
        let rows: Vec<(String, i64, String, i64, String)> =
            q.build_query_as().fetch_all(self.pool()).await?;
        let mut out: Vec<TranscriptMatch> = Vec::new();
        for (call_id, line_id, speaker, at, snippet) in rows {
            if out.iter().any(|m| m.call_id == call_id) {
                continue;
            }
            let Some(speaker) = Speaker::parse(&speaker) else {
                continue;
            };
            out.push(TranscriptMatch {
                call_id,
                line_id,
                speaker,
                at: Timestamp::from_millis(at),
                parts: parts(&snippet),
            });
        }
        Ok(out)
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
            Some("\"say\" \"\"\"hi\"\"\" \"AND(\" \"x*\"*")
        );
        assert_eq!(fts_query("  * ( \" "), None);
        assert_eq!(fts_query(""), None);
    }

    #[test]
    fn snippets_come_apart_into_hits_and_the_rest() {
        let s = format!("…wants a {OPEN}refund{CLOSE} for {OPEN}order{CLOSE}");
        assert_eq!(
            parts(&s),
            vec![
                SnippetPart {
                    text: "…wants a ".into(),
                    hit: false
                },
                SnippetPart {
                    text: "refund".into(),
                    hit: true
                },
                SnippetPart {
                    text: " for ".into(),
                    hit: false
                },
                SnippetPart {
                    text: "order".into(),
                    hit: true
                },
            ]
        );
    }
}
