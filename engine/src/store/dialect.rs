//! Where SQLite's SQL and PostgreSQL's differ, in one place. Most of the store's SQL is
//! written once and valid on both; what is not is chosen here by `Kind`.

use std::borrow::Cow;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// SQLite's placeholders as PostgreSQL's: `?N` is `$N`, and a bare `?` is one more than the
/// highest number so far (SQLite's own rule), so `?` and `?N` may be mixed as SQLite allows.
/// Quoted strings and identifiers are left alone.
pub fn pg(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0u32;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => highest + 1,
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            (None, c) => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `col`, a JSON array of strings kept as text, holds `param` (a placeholder).
pub fn json_array_has(kind: Kind, col: &str, param: &str) -> String {
    match kind {
        Kind::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {param})"),
        Kind::Postgres => format!("({col})::jsonb @> jsonb_build_array({param}::text)"),
    }
}

/// `col`, a flag, is set: written so SQLite's partial indexes on `col = 1` are used.
pub fn is_true(kind: Kind, col: &str) -> String {
    match kind {
        Kind::Sqlite => format!("{col} = 1"),
        Kind::Postgres => col.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(pg("SELECT 1"), "SELECT 1");
        assert_eq!(
            pg("UPDATE t SET a = ?, b = ? WHERE id = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
        assert_eq!(
            pg("SELECT * FROM t WHERE a = ?2 AND b = ?1 OR c = ?2"),
            "SELECT * FROM t WHERE a = $2 AND b = $1 OR c = $2"
        );
        // A bare ? after ?3 is ?4, as in SQLite.
        assert_eq!(pg("VALUES (?3, ?, ?1)"), "VALUES ($3, $4, $1)");
        assert_eq!(pg("VALUES (?10, ?)"), "VALUES ($10, $11)");
    }

    #[test]
    fn question_marks_in_strings_and_names_are_not_placeholders() {
        assert_eq!(
            pg("SELECT 'why?' AS \"q?\", x FROM t WHERE y = ? AND z = 'it''s ?'"),
            "SELECT 'why?' AS \"q?\", x FROM t WHERE y = $1 AND z = 'it''s ?'"
        );
    }
}
