//! Lead-list CSV import: each data row becomes a lead, a rejection with its reason, or a duplicate.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;
use utoipa::ToSchema;

use super::phone::is_known_region;
use super::phone::{E164, PhoneError};
use super::time_zones::parse_zone;

/// Longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest email address accepted, in characters (RFC 3696's practical limit).
pub const MAX_EMAIL_CHARS: usize = 320;
/// Longest value kept in an extra column, in characters.
pub const MAX_FIELD_CHARS: usize = 2000;
/// Most columns kept besides name, phone and email.
pub const MAX_EXTRA_COLUMNS: usize = 50;
/// Longer than any number in any numbering plan, even with formatting; spares libphonenumber
/// (and the rejection reason) a cell full of something else.
const MAX_PHONE_CHARS: usize = 64;
/// A rejected row is echoed back so the user can find it; a runaway row is cut short.
const MAX_RAW_CHARS: usize = 1000;

// Header aliases, compared after `header_key` (trimmed, lowercase, `_` read as a space).
const NAME_HEADERS: &[&str] = &["name", "full name", "contact", "contact name"];
const FIRST_NAME_HEADERS: &[&str] = &["first name", "firstname", "given name"];
const LAST_NAME_HEADERS: &[&str] = &["last name", "lastname", "surname", "family name"];
const PHONE_HEADERS: &[&str] = &[
    "phone",
    "phone number",
    "mobile",
    "number",
    "tel",
    "telephone",
];
const EMAIL_HEADERS: &[&str] = &["email", "e-mail", "email address", "e-mail address"];
const TIME_ZONE_HEADERS: &[&str] = &["time zone", "timezone", "tz"];

/// One lead ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadRow {
    /// Line in the file where the row starts; the header is line 1.
    pub line: u64,
    /// Trimmed; empty when the file has no name for the lead.
    pub name: String,
    #[schema(value_type = String, example = "+14155552671")]
    pub phone: E164,
    pub email: Option<String>,
    /// The lead's own IANA time zone (a `time_zone`, `timezone` or `tz` column); without one
    /// the zone is inferred from the number.
    pub time_zone: Option<String>,
    /// Every other column, keyed by its trimmed header, as strings. Empty cells are left out.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A row that was not imported, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RejectedRow {
    /// Line in the file where the row starts; the header is line 1.
    pub line: u64,
    /// What is wrong, in words naming the offending value; several problems are joined by `; `.
    pub reason: String,
    /// The row as written in the file (cut after 1,000 characters).
    pub raw: String,
}

/// A row whose phone number appeared earlier in the same file, or is already in the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DuplicateRow {
    pub line: u64,
    #[schema(value_type = String, example = "+14155552671")]
    pub phone: E164,
    /// The line of the imported row with the same number; `None` when the number is already
    /// in the campaign.
    pub first_line: Option<u64>,
}

/// The outcome of one import. Every data row is in exactly one of `leads`, `rejected` and
/// `duplicates`, so their lengths add up to `total_rows`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadImport {
    pub leads: Vec<LeadRow>,
    pub rejected: Vec<RejectedRow>,
    pub duplicates: Vec<DuplicateRow>,
    /// Data rows in the file: the header and blank rows (nothing but separators) do not count.
    pub total_rows: u64,
}

/// Why a whole file was refused. Problems with single rows never refuse the file; they are
/// reported in [`LeadImport::rejected`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadCsvError {
    #[error(
        "the file is not UTF-8 text (the first byte that is not is on line {line}); save it as \
         \"CSV UTF-8\" and import it again"
    )]
    NotUtf8 { line: u64 },
    #[error("the file is empty: it needs a header row naming at least a phone column")]
    Empty,
    #[error("\"{0}\" is not a region code: use a two-letter ISO 3166 code such as US or GB")]
    UnknownRegion(String),
    #[error(
        "columns {first} and {second} are both named \"{header}\": give each column its own name"
    )]
    DuplicateHeader {
        header: String,
        first: usize,
        second: usize,
    },
    #[error(
        "columns {} could each be the {role}: keep one, or rename the others",
        quoted(.headers)
    )]
    AmbiguousColumn {
        role: &'static str,
        headers: Vec<String>,
    },
    #[error(
        "no phone column: name one phone, phone number, mobile, number, tel or telephone (the \
         header has {})",
        found_list(.found)
    )]
    NoPhoneColumn { found: Vec<String> },
    #[error(
        "the file has {count} columns besides name, phone and email; at most \
         {MAX_EXTRA_COLUMNS} are kept, so remove the ones you do not need"
    )]
    TooManyColumns { count: usize },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
}

fn quoted(headers: &[String]) -> String {
    headers
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "no named columns".to_owned()
    } else {
        quoted(found)
    }
}

/// Parses a lead list. The first non-blank row is the header; the delimiter (`,`, `;` or tab)
/// is whichever appears most in the header line. National-format numbers are read in
/// `default_region` (ISO 3166 alpha-2). `already` says whether a number is already in the
/// campaign; such rows are reported as duplicates and not imported.
///
/// A file with no header is refused as [`LeadCsvError::Empty`]; a header with no rows under it
/// is an empty import. Rows of nothing but separators are skipped and not counted.
pub fn parse_leads_csv(
    bytes: &[u8],
    default_region: Option<&str>,
    already: impl Fn(&E164) -> bool,
) -> Result<LeadImport, LeadCsvError> {
    if let Some(region) = default_region
        && !is_known_region(region)
    {
        return Err(LeadCsvError::UnknownRegion(region.to_owned()));
    }
    // Refusing the file beats importing it half-read: a spreadsheet saved in a legacy code page
    // would otherwise lose exactly the rows with accented names.
    let text = std::str::from_utf8(bytes).map_err(|e| LeadCsvError::NotUtf8 {
        line: 1 + newlines(&bytes[..e.valid_up_to()]),
    })?;
    // Stripped here rather than left to the csv crate so that the delimiter sniffing and the
    // byte offsets used for `raw` see the same text the reader does.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();

    let columns = loop {
        if !next_record(&mut reader, &mut record)? {
            return Err(LeadCsvError::Empty);
        }
        if !is_blank(&record) {
            break Columns::from_header(&record)?;
        }
    };

    let mut import = LeadImport {
        leads: Vec::new(),
        rejected: Vec::new(),
        duplicates: Vec::new(),
        total_rows: 0,
    };
    // The line of the imported row for each number, to point duplicates at it.
    let mut first_seen: HashMap<E164, u64> = HashMap::new();
    while next_record(&mut reader, &mut record)? {
        if is_blank(&record) {
            continue;
        }
        import.total_rows += 1;
        let (line, start) = record_start(text, &record);
        let end = usize::try_from(reader.position().byte()).unwrap_or(text.len());
        let raw = || text.get(start..end).unwrap_or_default();
        let lead = match columns.lead(&record, line, default_region) {
            Ok(lead) => lead,
            Err(reason) => {
                import
                    .rejected
                    .push(rejected_row(line, reason.to_string(), raw()));
                continue;
            }
        };
        if already(&lead.phone) {
            import.duplicates.push(DuplicateRow {
                line,
                phone: lead.phone,
                first_line: None,
            });
            continue;
        }
        match first_seen.entry(lead.phone) {
            Entry::Occupied(first) => import.duplicates.push(DuplicateRow {
                line,
                phone: first.key().clone(),
                first_line: Some(*first.get()),
            }),
            Entry::Vacant(slot) => {
                let phone = slot.key().clone();
                slot.insert(line);
                import.leads.push(LeadRow { phone, ..lead });
            }
        }
    }
    Ok(import)
}

fn next_record(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut csv::StringRecord,
) -> Result<bool, LeadCsvError> {
    // The input is known to be UTF-8 and read from memory, so the reader has nothing left to
    // fail on; kept as an error rather than a panic all the same.
    reader
        .read_record(record)
        .map_err(|e| LeadCsvError::Malformed {
            line: e.position().map_or(0, csv::Position::line),
            message: e.to_string(),
        })
}

/// A row of nothing but separators and spaces: spreadsheets pad their exports with these.
fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|cell| cell.trim().is_empty())
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The line a record starts on and its byte offset. The csv reader stamps a record with the
/// position where it started reading, which is before any blank lines it skipped and, with CRLF
/// endings, on the previous line's `\n`; step over those.
fn record_start(text: &str, record: &csv::StringRecord) -> (u64, usize) {
    let (line, byte) = record.position().map_or((1, 0), |p| {
        (p.line(), usize::try_from(p.byte()).unwrap_or(0))
    });
    let byte = byte.min(text.len());
    let skipped = text.as_bytes()[byte..]
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    (
        line + newlines(&text.as_bytes()[byte..byte + skipped]),
        byte + skipped,
    )
}

fn rejected_row(line: u64, mut reason: String, raw: &str) -> RejectedRow {
    let raw = raw.trim_end_matches(['\r', '\n']);
    let extra_lines = newlines(raw.as_bytes());
    if reason.starts_with("the row has") && extra_lines > 0 {
        // A quote that is never closed swallows the lines after it into one row.
        reason.push_str(&format!(
            " (it runs from line {line} to line {}: check for a quote that is never closed)",
            line + extra_lines
        ));
    }
    let raw = match raw.char_indices().nth(MAX_RAW_CHARS) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_owned(),
    };
    RejectedRow { line, reason, raw }
}

/// `,`, `;` or tab: whichever appears most outside quotes in the first non-blank line; `,` on
/// a tie.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text.trim_start_matches(['\r', '\n']);
    let header = header.split('\n').next().unwrap_or_default();
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut in_quotes = false;
    for b in header.bytes() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(count) = counts.iter_mut().find(|(d, _)| *d == b) {
            count.1 += 1;
        }
    }
    // `max_by_key` keeps the last of equal maxima; reversed, that is the first listed.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

/// Trimmed, lowercase, with `_` and runs of spaces read as one space: `Phone_Number` and
/// ` phone  number ` both name the phone column.
fn header_key(header: &str) -> String {
    header
        .split(|c: char| c.is_whitespace() || c == '_')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Name,
    FirstName,
    LastName,
    Phone,
    Email,
    TimeZone,
}

impl Known {
    fn of(key: &str) -> Option<Self> {
        [
            (Self::Name, NAME_HEADERS),
            (Self::FirstName, FIRST_NAME_HEADERS),
            (Self::LastName, LAST_NAME_HEADERS),
            (Self::Phone, PHONE_HEADERS),
            (Self::Email, EMAIL_HEADERS),
            (Self::TimeZone, TIME_ZONE_HEADERS),
        ]
        .into_iter()
        .find(|(_, aliases)| aliases.contains(&key))
        .map(|(known, _)| known)
    }

    fn role(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::FirstName => "first name",
            Self::LastName => "last name",
            Self::Phone => "phone number",
            Self::Email => "email address",
            Self::TimeZone => "time zone",
        }
    }
}

/// What each column of the file holds.
#[derive(Debug)]
enum Column {
    Known(Known),
    Extra(String),
}

#[derive(Debug)]
struct Columns(Vec<Column>);

impl Columns {
    fn from_header(record: &csv::StringRecord) -> Result<Self, LeadCsvError> {
        // An unnamed column (spreadsheets leave some) is still kept, under its position.
        let headers: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, h)| match h.trim() {
                "" => format!("column {}", i + 1),
                h => h.to_owned(),
            })
            .collect();
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();

        let mut first_of: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if let Some(first) = first_of.insert(key.as_str(), i) {
                return Err(LeadCsvError::DuplicateHeader {
                    header: headers[first].clone(),
                    first: first + 1,
                    second: i + 1,
                });
            }
        }

        let known: Vec<Option<Known>> = keys.iter().map(|k| Known::of(k)).collect();
        // A full-name column wins; first and last name are then kept as ordinary columns.
        let has_full_name = known.contains(&Some(Known::Name));
        let mut columns = Vec::with_capacity(headers.len());
        for (header, known) in headers.iter().zip(&known) {
            columns.push(match known {
                Some(Known::FirstName | Known::LastName) if has_full_name => {
                    Column::Extra(header.clone())
                }
                Some(k) => Column::Known(*k),
                None => Column::Extra(header.clone()),
            });
        }

        // Two columns for one role would mean guessing which to use; for the phone, that guess
        // decides whom the agent calls.
        for role in [
            Known::Name,
            Known::FirstName,
            Known::LastName,
            Known::Phone,
            Known::Email,
            Known::TimeZone,
        ] {
            let claimed: Vec<String> = columns
                .iter()
                .zip(&headers)
                .filter(|(c, _)| matches!(c, Column::Known(k) if *k == role))
                .map(|(_, h)| h.clone())
                .collect();
            if claimed.len() > 1 {
                return Err(LeadCsvError::AmbiguousColumn {
                    role: role.role(),
                    headers: claimed,
                });
            }
        }
        if !columns
            .iter()
            .any(|c| matches!(c, Column::Known(Known::Phone)))
        {
            let found = record
                .iter()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect();
            return Err(LeadCsvError::NoPhoneColumn { found });
        }
        let extra = columns
            .iter()
            .filter(|c| matches!(c, Column::Extra(_)))
            .count();
        if extra > MAX_EXTRA_COLUMNS {
            return Err(LeadCsvError::TooManyColumns { count: extra });
        }
        Ok(Self(columns))
    }

    /// The lead in one data row, or every problem with it in words.
    fn lead(
        &self,
        record: &csv::StringRecord,
        line: u64,
        default_region: Option<&str>,
    ) -> Result<LeadRow, RowProblems> {
        if record.len() != self.0.len() {
            return Err(RowProblems(vec![format!(
                "the row has {} fields but the header has {}",
                record.len(),
                self.0.len()
            )]));
        }
        let mut problems: Vec<String> = Vec::new();
        let (mut name, mut first, mut last) = ("", "", "");
        let mut phone = None;
        let mut email = None;
        let mut time_zone = None;
        let mut fields = serde_json::Map::new();
        for (column, cell) in self.0.iter().zip(record.iter()) {
            let cell = cell.trim();
            match column {
                Column::Known(Known::Name) => name = cell,
                Column::Known(Known::FirstName) => first = cell,
                Column::Known(Known::LastName) => last = cell,
                Column::Known(Known::Phone) => match phone_of(cell, default_region) {
                    Ok(p) => phone = Some(p),
                    Err(problem) => problems.push(problem.to_string()),
                },
                Column::Known(Known::Email) if cell.is_empty() => {}
                Column::Known(Known::Email) => match email_problem(cell) {
                    None => email = Some(cell.to_owned()),
                    Some(problem) => problems.push(problem),
                },
                Column::Known(Known::TimeZone) if cell.is_empty() => {}
                Column::Known(Known::TimeZone) => match parse_zone("time_zone", cell) {
                    Ok(z) => time_zone = Some(z),
                    Err(e) => problems.push(format!("the time zone {}", e.message)),
                },
                Column::Extra(_) if cell.is_empty() => {}
                Column::Extra(header) => match too_long(cell, MAX_FIELD_CHARS) {
                    None => {
                        fields.insert(header.clone(), cell.into());
                    }
                    Some(chars) => problems.push(format!(
                        "\"{header}\" is {chars} characters long; at most {MAX_FIELD_CHARS} are \
                         allowed"
                    )),
                },
            }
        }
        let name = match (first, last) {
            _ if !name.is_empty() => name.to_owned(),
            ("", last) => last.to_owned(),
            (first, "") => first.to_owned(),
            (first, last) => format!("{first} {last}"),
        };
        if let Some(chars) = too_long(&name, MAX_NAME_CHARS) {
            problems.push(format!(
                "the name is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
            ));
        }
        match phone {
            Some(phone) if problems.is_empty() => Ok(LeadRow {
                line,
                name,
                phone,
                email,
                time_zone,
                fields,
            }),
            _ => Err(RowProblems(problems)),
        }
    }
}

/// Everything wrong with one row, said as one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowProblems(Vec<String>);

impl std::fmt::Display for RowProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Why a cell is not a phone number.
#[derive(Debug, thiserror::Error)]
enum PhoneProblem {
    #[error("the phone number is {0} characters long, more than any real number")]
    TooLong(usize),
    #[error(transparent)]
    Phone(#[from] PhoneError),
}

fn phone_of(cell: &str, default_region: Option<&str>) -> Result<E164, PhoneProblem> {
    if let Some(chars) = too_long(cell, MAX_PHONE_CHARS) {
        return Err(PhoneProblem::TooLong(chars));
    }
    Ok(E164::parse(cell, default_region)?)
}

/// Plausible, not proven: one `@` with text before it, a domain of dot-separated labels, no
/// spaces. Whether the mailbox exists is for the mail server to say.
fn email_problem(email: &str) -> Option<String> {
    if let Some(chars) = too_long(email, MAX_EMAIL_CHARS) {
        return Some(format!(
            "the email address is {chars} characters long; at most {MAX_EMAIL_CHARS} are allowed"
        ));
    }
    let plausible = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && domain.split('.').all(|label| !label.is_empty())
                && !email.contains(char::is_whitespace)
        }
        None => false,
    };
    (!plausible).then(|| format!("\"{email}\" is not an email address"))
}

/// The length in characters when it is over `max`. Counts characters only when the byte length
/// says it might be, so ordinary cells cost nothing.
fn too_long(text: &str, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let chars = text.chars().count();
    (chars > max).then_some(chars)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn import(text: &str) -> LeadImport {
        parse_leads_csv(text.as_bytes(), Some("US"), |_| false)
            .unwrap_or_else(|e| panic!("the file should import, but: {e}"))
    }

    fn refuse(text: &str) -> LeadCsvError {
        match parse_leads_csv(text.as_bytes(), Some("US"), |_| false) {
            Ok(import) => panic!("the file should be refused, but imported {import:?}"),
            Err(e) => e,
        }
    }

    fn phone(number: &str) -> E164 {
        E164::parse(number, None).expect("test numbers are valid")
    }

    fn lines<T>(rows: &[T], line: impl Fn(&T) -> u64) -> Vec<u64> {
        rows.iter().map(line).collect()
    }

    #[test]
    fn imports_a_plain_file() {
        let got = import(
            "Name,Phone,Email,Company\n\
             Ada Lovelace,+1 415 555 2671,ada@example.com,Analytical Engines\n\
             Alan Turing,(212) 555-0100,,\n",
        );
        assert_eq!(got.total_rows, 2, "two data rows below the header");
        assert!(got.rejected.is_empty(), "both rows are valid: {got:?}");
        assert!(got.duplicates.is_empty(), "the numbers differ: {got:?}");
        let mut fields = serde_json::Map::new();
        fields.insert("Company".into(), "Analytical Engines".into());
        assert_eq!(
            got.leads[0],
            LeadRow {
                line: 2,
                name: "Ada Lovelace".into(),
                time_zone: None,
                phone: phone("+14155552671"),
                email: Some("ada@example.com".into()),
                fields,
            },
            "the first row maps column by column, numbers in E.164"
        );
        assert_eq!(
            got.leads[1].phone.as_str(),
            "+12125550100",
            "a national number is read in the default region"
        );
        assert_eq!(got.leads[1].email, None, "an empty email cell is no email");
        assert!(
            got.leads[1].fields.is_empty(),
            "empty cells are left out of fields: {:?}",
            got.leads[1].fields
        );
    }

    #[test]
    fn header_aliases_match_loosely() {
        let got =
            import(" Full_Name ;PHONE NUMBER;E-Mail; Notes \nGrace;+14155552671;g@x.io;vip\n");
        let lead = &got.leads[0];
        assert_eq!(lead.name, "Grace", "`Full_Name` is the name column");
        assert_eq!(
            lead.phone.as_str(),
            "+14155552671",
            "`PHONE NUMBER` is the phone"
        );
        assert_eq!(
            lead.email.as_deref(),
            Some("g@x.io"),
            "`E-Mail` is the email"
        );
        assert_eq!(
            lead.fields.get("Notes"),
            Some(&"vip".into()),
            "other columns keep their trimmed header text as the key"
        );

        for header in ["mobile", "Number", "TEL", "telephone", "phone_number"] {
            let got = import(&format!("{header}\n+14155552671\n"));
            assert_eq!(got.leads.len(), 1, "`{header}` names the phone column");
        }
        for header in ["contact", "Contact Name", "name"] {
            let got = import(&format!("{header},phone\nBob,+14155552671\n"));
            assert_eq!(got.leads[0].name, "Bob", "`{header}` names the name column");
        }
    }

    #[test]
    fn first_and_last_names_are_joined() {
        let got = import(
            "First Name,Last Name,Phone\n\
             Ada, Lovelace ,+14155552671\n\
             Cher,,+14155552672\n\
             ,Turing,+14155552673\n\
             ,,+14155552674\n",
        );
        let names: Vec<&str> = got.leads.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["Ada Lovelace", "Cher", "Turing", ""],
            "parts are trimmed and joined by one space; a lead may have no name at all"
        );
        assert!(
            got.leads.iter().all(|l| l.fields.is_empty()),
            "first and last name are the name, not extra fields"
        );
    }

    #[test]
    fn a_full_name_column_wins_over_first_and_last() {
        let got = import("name,first name,last name,phone\nA. L.,Ada,Lovelace,+14155552671\n");
        let lead = &got.leads[0];
        assert_eq!(lead.name, "A. L.", "the full name column is the name");
        assert_eq!(
            lead.fields.get("first name"),
            Some(&"Ada".into()),
            "first name is then kept as an ordinary column"
        );
        assert_eq!(lead.fields.get("last name"), Some(&"Lovelace".into()));
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(
            refuse("phone,Notes,notes \n+14155552671,a,b\n"),
            LeadCsvError::DuplicateHeader {
                header: "Notes".into(),
                first: 2,
                second: 3
            },
            "headers that differ only in case or spaces are the same column"
        );
        assert_eq!(
            refuse("Phone,Mobile\n+14155552671,+14155552672\n"),
            LeadCsvError::AmbiguousColumn {
                role: "phone number",
                headers: vec!["Phone".into(), "Mobile".into()]
            },
            "with two phone columns, guessing which to call is not ours to do"
        );
        let err = refuse("Name,Company\nAda,Engines\n");
        assert_eq!(
            err,
            LeadCsvError::NoPhoneColumn {
                found: vec!["Name".into(), "Company".into()]
            }
        );
        assert!(
            err.to_string().contains("\"Name\", \"Company\""),
            "the message lists the headers found so the user sees what to rename: {err}"
        );
    }

    #[test]
    fn unnamed_columns_are_kept_by_position() {
        let got = import("phone,,\n+14155552671,x,\n");
        assert_eq!(
            got.leads[0].fields.get("column 2"),
            Some(&"x".into()),
            "a value under an unnamed column is kept, named by its position"
        );
        assert_eq!(got.leads[0].fields.len(), 1, "empty cells are left out");
    }

    #[test]
    fn empty_files_and_header_only_files() {
        assert_eq!(refuse(""), LeadCsvError::Empty, "no bytes, no header");
        assert_eq!(
            refuse("\u{feff}\r\n\n ,\n"),
            LeadCsvError::Empty,
            "a BOM and blank lines are still no header"
        );
        let got = import("name,phone\r\n\r\n,\r\n");
        assert_eq!(
            got,
            LeadImport {
                leads: vec![],
                rejected: vec![],
                duplicates: vec![],
                total_rows: 0
            },
            "a header alone is a valid list with nothing in it, and blank rows are not rows"
        );
    }

    #[test]
    fn bad_numbers_are_rejected_with_the_value() {
        let got = import("name,phone\nA,555-12\nB,\nC,hello\nD,+14155552671\n");
        assert_eq!(got.leads.len(), 1, "only D has a valid number");
        assert_eq!(lines(&got.rejected, |r| r.line), [2, 3, 4]);
        assert_eq!(
            got.rejected[0].reason, "\"555-12\" is not a valid number for its country",
            "the reason names the value"
        );
        assert_eq!(got.rejected[0].raw, "A,555-12", "raw is the row as written");
        assert_eq!(got.rejected[1].reason, "phone number is empty");
        assert!(
            got.rejected[2].reason.contains("\"hello\""),
            "{}",
            got.rejected[2].reason
        );

        let long = "9".repeat(100);
        let got = import(&format!("phone\n{long}\n"));
        assert!(
            got.rejected[0].reason.contains("100 characters long"),
            "a huge phone cell is refused by length, not echoed: {}",
            got.rejected[0].reason
        );
    }

    #[test]
    fn national_numbers_need_a_region() {
        let got = parse_leads_csv(b"phone\n(415) 555-2671\n+14155552672\n", None, |_| false)
            .expect("the file is fine");
        assert_eq!(
            got.leads.len(),
            1,
            "the international number needs no region"
        );
        assert!(
            got.rejected[0].reason.contains("no country code"),
            "without a default region a national number cannot be placed: {}",
            got.rejected[0].reason
        );
        assert_eq!(
            parse_leads_csv(b"phone\n", Some("XX"), |_| false),
            Err(LeadCsvError::UnknownRegion("XX".into())),
            "an unknown region would otherwise be ignored silently"
        );
    }

    #[test]
    fn emails_must_be_plausible() {
        let good = ["a@b.co", "first.last+tag@mail.example.org", "X@Y.Z"];
        for email in good {
            let got = import(&format!("phone,email\n+14155552671,{email}\n"));
            assert_eq!(
                got.leads[0].email.as_deref(),
                Some(email),
                "{email} looks like an address"
            );
        }
        let bad = [
            "ada", "@b.co", "a@", "a@b", "a@@b.co", "a@b@c.co", "a@.co", "a@b.", "a@b..co",
            "a b@c.co",
        ];
        for email in bad {
            let got = import(&format!("phone,email\n+14155552671,{email}\n"));
            assert_eq!(
                got.rejected.first().map(|r| r.reason.clone()),
                Some(format!("\"{email}\" is not an email address")),
                "{email} is not plausibly an address, so the row is rejected"
            );
        }
    }

    #[test]
    fn a_time_zone_column_is_checked_per_row() {
        let got = import(
            "phone,Time_Zone\n+14155552671,America/Chicago\n+14155552672,\n+14155552673,Mars/Base\n",
        );
        assert_eq!(got.leads[0].time_zone.as_deref(), Some("America/Chicago"));
        assert_eq!(
            got.leads[1].time_zone, None,
            "an empty cell: inferred later"
        );
        assert_eq!(lines(&got.rejected, |r| r.line), vec![4]);
        assert!(
            got.rejected[0]
                .reason
                .contains("\"Mars/Base\" is not a known time zone"),
            "{:?}",
            got.rejected[0]
        );
        for header in ["timezone", "tz", "time zone"] {
            let got = import(&format!("phone,{header}\n+14155552671,Europe/Paris\n"));
            assert_eq!(
                got.leads[0].time_zone.as_deref(),
                Some("Europe/Paris"),
                "{header}"
            );
        }
    }

    #[test]
    fn every_problem_in_a_row_is_named() {
        let got = import("phone,email\n12,nope\n");
        assert_eq!(
            got.rejected[0].reason,
            "\"12\" is not a phone number; \"nope\" is not an email address",
            "the user fixes the row once, not once per problem"
        );
    }

    #[test]
    fn rows_with_the_wrong_number_of_fields_are_rejected_alone() {
        let got = import("name,phone\nA,+14155552671,extra\nB\nC,+14155552672\n");
        assert_eq!(
            lines(&got.rejected, |r| r.line),
            [2, 3],
            "short and long rows are rejected, not the file"
        );
        assert_eq!(
            got.rejected[0].reason,
            "the row has 3 fields but the header has 2"
        );
        assert_eq!(got.leads.len(), 1, "the row after them still imports");
        assert_eq!(got.leads[0].line, 4);
    }

    #[test]
    fn an_unclosed_quote_is_pointed_out() {
        let got = import("name,phone\n\"Ada,+14155552671\nB,+14155552672\n");
        assert_eq!(
            got.total_rows, 1,
            "the open quote joins the rest of the file"
        );
        let reason = &got.rejected[0].reason;
        assert!(
            reason.contains("line 2 to line 3") && reason.contains("never closed"),
            "the reason says where to look: {reason}"
        );
    }

    #[test]
    fn lengths_are_bounded() {
        let name = "n".repeat(MAX_NAME_CHARS + 1);
        let email = format!("{}@example.com", "e".repeat(MAX_EMAIL_CHARS));
        let note = "é".repeat(MAX_FIELD_CHARS + 1);
        let got = import(&format!(
            "name,phone,email,note\n\
             {name},+14155552671,,\n\
             ,+14155552672,{email},\n\
             ,+14155552673,,{note}\n\
             {},+14155552674,,{}\n",
            "n".repeat(MAX_NAME_CHARS),
            "é".repeat(MAX_FIELD_CHARS)
        ));
        let reasons: Vec<&str> = got.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "the name is 201 characters long; at most 200 are allowed",
                "the email address is 332 characters long; at most 320 are allowed",
                "\"note\" is 2001 characters long; at most 2000 are allowed",
            ],
            "limits are counted in characters, not bytes"
        );
        assert_eq!(got.leads.len(), 1, "values exactly at the limits are kept");

        let header = |extra: usize| {
            let mut h = "phone".to_owned();
            for i in 0..extra {
                h.push_str(&format!(",c{i}"));
            }
            h + "\n"
        };
        assert!(
            parse_leads_csv(header(MAX_EXTRA_COLUMNS).as_bytes(), None, |_| false).is_ok(),
            "50 extra columns are allowed"
        );
        assert_eq!(
            refuse(&header(MAX_EXTRA_COLUMNS + 1)),
            LeadCsvError::TooManyColumns { count: 51 }
        );
    }

    #[test]
    fn duplicate_numbers_point_at_the_first_row() {
        let got = import(
            "name,phone,email\n\
             A,+1 415 555 2671,bad\n\
             B,(415) 555-2671,\n\
             C,+14155552671,\n\
             D,415.555.2671,\n",
        );
        assert_eq!(
            lines(&got.leads, |l| l.line),
            [3],
            "line 2 was rejected, so line 3 is the first import of the number"
        );
        assert_eq!(
            got.duplicates,
            [
                DuplicateRow {
                    line: 4,
                    phone: phone("+14155552671"),
                    first_line: Some(3)
                },
                DuplicateRow {
                    line: 5,
                    phone: phone("+14155552671"),
                    first_line: Some(3)
                },
            ],
            "numbers are compared after normalisation"
        );
    }

    #[test]
    fn numbers_already_in_the_campaign_are_duplicates() {
        let in_campaign: HashSet<E164> = [phone("+14155552671")].into();
        let got = parse_leads_csv(
            b"phone\n+14155552671\n+14155552672\n(415) 555-2671\n",
            Some("US"),
            |p| in_campaign.contains(p),
        )
        .expect("the file is fine");
        assert_eq!(lines(&got.leads, |l| l.line), [3]);
        assert_eq!(
            lines(&got.duplicates, |d| d.line),
            [2, 4],
            "both rows with the campaign's number are duplicates"
        );
        assert!(
            got.duplicates.iter().all(|d| d.first_line.is_none()),
            "first_line None says the earlier copy is in the campaign, not the file"
        );
    }

    #[test]
    fn reads_bom_crlf_quotes_and_blank_lines() {
        let text = "\u{feff}Name,Phone,Notes\r\n\
                    \"Lovelace, Ada\",+14155552671,\"line one\r\nline two\"\r\n\
                    \r\n\
                    \"Turing, Alan\",+14155552672,\"said \"\"hi\"\"\"\r\n\
                    bad,12,\r\n\
                    \r\n\r\n";
        let got = import(text);
        assert_eq!(got.total_rows, 3, "blank lines are not rows");
        assert_eq!(
            got.leads[0].name, "Lovelace, Ada",
            "the BOM is not part of the first header and a quoted comma stays in the field"
        );
        assert_eq!(
            got.leads[0].fields.get("Notes"),
            Some(&"line one\r\nline two".into()),
            "a quoted field keeps its line break"
        );
        assert_eq!(
            got.leads[1].fields.get("Notes"),
            Some(&"said \"hi\"".into()),
            "doubled quotes are one quote"
        );
        assert_eq!(
            lines(&got.leads, |l| l.line),
            [2, 5],
            "line numbers count the line inside the quoted field and the blank line"
        );
        assert_eq!(got.rejected[0].line, 6);
        assert_eq!(got.rejected[0].raw, "bad,12,", "raw has no line ending");
    }

    #[test]
    fn sniffs_the_delimiter_from_the_header() {
        let got = import("name;phone;city\n\"Doe; Jane\";+61 412 345 678;Paris, TX\n");
        assert_eq!(got.leads[0].name, "Doe; Jane", "semicolons separate fields");
        assert_eq!(
            got.leads[0].fields.get("city"),
            Some(&"Paris, TX".into()),
            "a comma in a semicolon file is text"
        );
        let got = import("name\tphone\nJane, Doe\t+14155552671\n");
        assert_eq!(got.leads[0].name, "Jane, Doe", "tabs separate fields");
        let got = import("\"a;b\",phone\nx,+14155552671\n");
        assert_eq!(
            got.leads[0].fields.get("a;b"),
            Some(&"x".into()),
            "a delimiter inside a quoted header does not count"
        );
    }

    #[test]
    fn refuses_text_that_is_not_utf8() {
        let latin1 = b"name,phone\nAda,+14155552671\nJos\xe9,+14155552672\n";
        let err = parse_leads_csv(latin1, Some("US"), |_| false)
            .expect_err("a Latin-1 file must not be imported half-read");
        assert_eq!(err, LeadCsvError::NotUtf8 { line: 3 });
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn every_row_of_a_messy_file_is_accounted_for_once() {
        let text = "\u{feff}First Name;Last Name;Mobile;E-mail;Tag\r\n\
                    Ada;Lovelace;+1 415 555 2671;ada@example.com;a\r\n\
                    Alan;Turing;415-555-2671;;b\r\n\
                    ;;;;\r\n\
                    Grace;Hopper;555-12;;c\r\n\
                    Edsger;Dijkstra;+14155552672;not-an-email;d\r\n\
                    \"Barbara\r\nJane\";Liskov;+14155552673;;e\r\n\
                    Short;Row\r\n\
                    Ken;Thompson;+14155552680;;f\r\n\
                    Dennis;Ritchie;+1 415 555 2673;;g\r\n\
                    \r\n";
        let in_campaign = phone("+14155552680");
        let got = parse_leads_csv(text.as_bytes(), Some("US"), |p| *p == in_campaign)
            .expect("row problems never refuse the file");
        let mut seen: Vec<u64> = lines(&got.leads, |l| l.line);
        seen.extend(lines(&got.rejected, |r| r.line));
        seen.extend(lines(&got.duplicates, |d| d.line));
        seen.sort_unstable();
        assert_eq!(
            seen,
            [2, 3, 5, 6, 7, 9, 10, 11],
            "each data row lands in exactly one list; the blank row (line 4) and the header \
             are not data rows"
        );
        assert_eq!(
            got.total_rows,
            seen.len() as u64,
            "total_rows counts what was sorted"
        );
        assert_eq!(lines(&got.leads, |l| l.line), [2, 7]);
        assert_eq!(got.leads[1].name, "Barbara\r\nJane Liskov");
        assert_eq!(lines(&got.rejected, |r| r.line), [5, 6, 9]);
        assert_eq!(
            got.duplicates,
            [
                DuplicateRow {
                    line: 3,
                    phone: phone("+14155552671"),
                    first_line: Some(2)
                },
                DuplicateRow {
                    line: 10,
                    phone: in_campaign.clone(),
                    first_line: None
                },
                DuplicateRow {
                    line: 11,
                    phone: phone("+14155552673"),
                    first_line: Some(7)
                },
            ]
        );
    }

    #[test]
    fn serialises_for_the_api() {
        let got = import("name,phone,city\nAda,+14155552671,Paris\n");
        let json = serde_json::to_value(&got).expect("an import serialises");
        assert_eq!(
            json["leads"][0],
            serde_json::json!({
                "line": 2,
                "name": "Ada",
                "phone": "+14155552671",
                "email": null,
                "time_zone": null,
                "fields": { "city": "Paris" }
            }),
            "the phone is a plain E.164 string, the fields an object"
        );
    }

    #[test]
    fn imports_a_hundred_thousand_rows() {
        const ROWS: u64 = 100_000;
        let mut text = String::with_capacity(64 * ROWS as usize);
        text.push_str("name,phone,email,company\n");
        for i in 0..ROWS {
            // Every 1,000th row has a bad number and every 100th repeats its predecessor's.
            let n = if i % 100 == 99 { i - 1 } else { i };
            if i % 1000 == 500 {
                text.push_str(&format!("Lead {i},555-12,,Acme\n"));
            } else {
                let (exchange, subscriber) = (200 + n / 10_000, n % 10_000);
                text.push_str(&format!(
                    "Lead {i},(415) {exchange}-{subscriber:04},lead{i}@example.com,Acme\n"
                ));
            }
        }
        let got = parse_leads_csv(text.as_bytes(), Some("US"), |_| false).expect("valid file");
        assert_eq!(got.total_rows, ROWS, "every row is counted");
        assert_eq!(got.rejected.len(), 100, "one bad number per thousand rows");
        assert_eq!(
            got.duplicates.len(),
            1000,
            "one repeated number per hundred rows"
        );
        assert_eq!(got.leads.len(), 98_900, "the rest import");
    }
}
