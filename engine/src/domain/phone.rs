//! E.164 phone numbers, parsed and normalised by libphonenumber's rules (the `phonenumber`
//! crate). An `E164` value is always valid and always in `+<country><national>` form.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("\"{0}\" is not a phone number")]
    Unparseable(String),
    #[error("\"{0}\" is not a valid number for its country")]
    Invalid(String),
    #[error("\"{0}\" has no country code: write it as +<country code><number>")]
    NoCountry(String),
}

/// A validated phone number in E.164 form, e.g. `+14155550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Parses a number written in international form (`+44 20 7946 0958`), or in national form
    /// when `default_region` (ISO 3166 alpha-2, e.g. `US`) says which country it belongs to.
    pub fn parse(input: &str, default_region: Option<&str>) -> Result<Self, PhoneError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let region = default_region.and_then(|r| r.to_ascii_uppercase().parse().ok());
        if !text.starts_with('+') && !text.starts_with("00") && region.is_none() {
            return Err(PhoneError::NoCountry(text.to_owned()));
        }
        let parsed = phonenumber::parse(region, text)
            .map_err(|_| PhoneError::Unparseable(text.to_owned()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(text.to_owned()));
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a number that was validated when it was stored; skips parsing it again on every
    /// read. Only the store uses this.
    pub(crate) fn from_stored(number: String) -> Self {
        Self(number)
    }
}

impl std::fmt::Display for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, None)
    }
}

impl From<E164> for String {
    fn from(value: E164) -> Self {
        value.0
    }
}

/// Whether `region` is a region code libphonenumber knows (`US`, `GB`, ...).
pub fn is_known_region(region: &str) -> bool {
    region.len() == 2
        && region
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .is_ok()
}

/// The country (ISO 3166 alpha-2, e.g. `GB`) a number in E.164 form belongs to, when
/// libphonenumber can tell (a `+1` number resolves to `US`, `CA`, ... by its area code).
pub fn region_of(number: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, number).ok()?;
    if let Some(id) = parsed.country().id() {
        return Some(id.as_ref().to_owned());
    }
    // A number no region's pattern claims (a fictional 555 one, a new range): the main
    // country of its calling code, as a carrier would rate it.
    let code = parsed.code().value();
    let main = phonenumber::metadata::DATABASE
        .by_code(&code)?
        .into_iter()
        .find(|m| m.is_main_country_for_code())
        .or_else(|| {
            phonenumber::metadata::DATABASE
                .by_code(&code)?
                .into_iter()
                .next()
        })?;
    Some(main.id().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_international_formatting() {
        let n = E164::parse(" +1 (415) 555-2671 ", None).unwrap();
        assert_eq!(n.as_str(), "+14155552671");
        let uk = E164::parse("+44 20 7946 0958", None).unwrap();
        assert_eq!(uk.as_str(), "+442079460958");
    }

    #[test]
    fn national_form_needs_a_region() {
        assert_eq!(
            E164::parse("(415) 555-2671", None),
            Err(PhoneError::NoCountry("(415) 555-2671".into()))
        );
        let n = E164::parse("(415) 555-2671", Some("us")).unwrap();
        assert_eq!(n.as_str(), "+14155552671");
        let au = E164::parse("0412 345 678", Some("AU")).unwrap();
        assert_eq!(au.as_str(), "+61412345678");
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(E164::parse("", None), Err(PhoneError::Empty));
        assert!(matches!(
            E164::parse("+hello", None),
            Err(PhoneError::Unparseable(_))
        ));
        // Too short to be any real number in the North American plan.
        assert!(matches!(
            E164::parse("+1415", None),
            Err(PhoneError::Unparseable(_) | PhoneError::Invalid(_))
        ));
        assert!(matches!(
            E164::parse("+99912345678", None),
            Err(PhoneError::Unparseable(_) | PhoneError::Invalid(_))
        ));
    }

    #[test]
    fn deserialising_validates() {
        let ok: E164 = serde_json::from_str("\"+14155552671\"").unwrap();
        assert_eq!(ok.as_str(), "+14155552671");
        assert!(serde_json::from_str::<E164>("\"12\"").is_err());
    }

    #[test]
    fn finds_a_numbers_country() {
        assert_eq!(region_of("+14155552671").as_deref(), Some("US"));
        assert_eq!(region_of("+16135550123").as_deref(), Some("CA"));
        assert_eq!(region_of("+442079460958").as_deref(), Some("GB"));
        assert_eq!(
            region_of("+14155550100").as_deref(),
            Some("US"),
            "a 555 number is still +1"
        );
        assert_eq!(region_of("not a number"), None);
    }

    #[test]
    fn knows_regions() {
        assert!(is_known_region("US"));
        assert!(is_known_region("gb"));
        assert!(!is_known_region("XX"));
        assert!(!is_known_region("USA"));
    }
}
