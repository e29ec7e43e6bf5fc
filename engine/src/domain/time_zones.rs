//! Which time zones a lead lives in: its own IANA zone when its list says so, else the zones
//! its number's prefix is used in (libphonenumber's prefix table, `phone_time_zones.txt`:
//! a country code, or for NANP (+1) an area code or finer). A number may span several zones
//! (an area code split between Mountain and Pacific, a country such as Australia); it is then
//! called only in hours valid in all of them.
//!
//! A lead's zones are kept as one key, the zone names sorted and joined by `&` (`""`: not
//! known, the campaign's window zone stands in), so the dialer can judge each distinct set of
//! zones once rather than each lead.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::input::Invalid;
use super::phone::E164;

static TABLE: &str = include_str!("phone_time_zones.txt");

/// Prefix (digits after `+`) → zones joined by `&`, and the longest prefix listed.
static PREFIXES: LazyLock<(HashMap<&'static str, &'static str>, usize)> = LazyLock::new(|| {
    let map: HashMap<_, _> = TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('|'))
        .collect();
    let longest = map.keys().map(|k| k.len()).max().unwrap_or(0);
    (map, longest)
});

/// Where a lead's zones come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The lead's own `time_zone` column.
    Lead,
    /// Inferred from the number's country or area code.
    Number,
    /// Unknown: the campaign's window zone stands in.
    Campaign,
}

/// The zones `number`'s longest listed prefix is used in, as a zone key; `""` when the table
/// has none of them (or none this system's time zone database knows).
pub fn zones_of_number(number: &E164) -> String {
    let digits = number.as_str().trim_start_matches('+');
    let (map, longest) = &*PREFIXES;
    let found = (1..=digits.len().min(*longest))
        .rev()
        .find_map(|n| map.get(&digits[..n]));
    let Some(zones) = found else {
        return String::new();
    };
    let mut known: Vec<&str> = zones
        .split('&')
        .filter(|z| jiff::tz::TimeZone::get(z).is_ok())
        .collect();
    known.sort_unstable();
    known.dedup();
    known.join("&")
}

/// A lead's own zone as written in its list, checked against the time zone database.
pub fn parse_zone(field: &'static str, name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    jiff::tz::TimeZone::get(name).map_err(|_| {
        Invalid::new(
            field,
            format!("\"{name}\" is not a known time zone (use a name such as America/Chicago)"),
        )
    })?;
    Ok(name.to_owned())
}

/// A lead's zone key and where it came from: its own zone, else its number's.
pub fn zone_key(own: Option<&str>, number: &E164) -> (String, ZoneSource) {
    if let Some(own) = own.filter(|z| !z.is_empty()) {
        return (own.to_owned(), ZoneSource::Lead);
    }
    match zones_of_number(number) {
        k if k.is_empty() => (k, ZoneSource::Campaign),
        k => (k, ZoneSource::Number),
    }
}

/// The zone names in a key (none for `""`).
pub fn zones_in(key: &str) -> Vec<&str> {
    key.split('&').filter(|z| !z.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(number: &str) -> String {
        zones_of_number(&E164::parse(number, None).unwrap())
    }

    #[test]
    fn nanp_area_codes_give_their_zones() {
        assert_eq!(zones("+12125550100"), "America/New_York");
        assert_eq!(zones("+13125550100"), "America/Chicago");
        assert_eq!(zones("+13035550100"), "America/Denver");
        assert_eq!(zones("+14155550100"), "America/Los_Angeles");
        assert_eq!(zones("+16025550100"), "America/Phoenix");
        assert_eq!(zones("+18085550100"), "Pacific/Honolulu");
        // Canada and the Caribbean share +1.
        assert_eq!(zones("+14165550100"), "America/Toronto");
    }

    #[test]
    fn a_split_area_code_gives_every_zone_it_spans() {
        // Idaho's 208 is Mountain in the south and Pacific in the north.
        assert_eq!(zones("+12085550100"), "America/Boise&America/Los_Angeles");
        // Finer prefixes win where the table knows the exchange.
        assert_eq!(zones("+12082010100"), "America/Denver");
    }

    #[test]
    fn countries_give_their_zones() {
        assert_eq!(zones("+442079460958"), "Europe/London");
        assert_eq!(zones("+493012345678"), "Europe/Berlin");
        assert_eq!(zones("+33123456789"), "Europe/Paris");
        assert!(
            zones("+61212345678").contains("Australia/Sydney"),
            "Australia spans several zones"
        );
    }

    #[test]
    fn a_leads_own_zone_wins_and_bad_names_are_refused() {
        let n = E164::parse("+12125550100", None).unwrap();
        assert_eq!(
            zone_key(Some("America/Denver"), &n),
            ("America/Denver".into(), ZoneSource::Lead)
        );
        assert_eq!(
            zone_key(None, &n),
            ("America/New_York".into(), ZoneSource::Number)
        );
        let err = parse_zone("time_zone", "Mars/Olympus").unwrap_err();
        assert!(err.message.contains("Mars/Olympus"), "{err:?}");
        assert_eq!(parse_zone("tz", " Europe/Paris ").unwrap(), "Europe/Paris");
    }

    #[test]
    fn keys_split_back_into_zones() {
        assert_eq!(zones_in(""), Vec::<&str>::new());
        assert_eq!(zones_in("A/B&C/D"), vec!["A/B", "C/D"]);
    }
}
