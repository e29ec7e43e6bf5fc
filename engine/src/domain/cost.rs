//! Call cost estimates (issue 16, point 4): the rates the user can edit, and a call's cost from
//! its answered seconds at those rates. Pure.
//!
//! A call's cost is its carrier part (the answered seconds rounded up to the carrier's billing
//! increment, at the per-minute rate for the far end's country and the call's direction) plus
//! its AI part (the answered seconds, by the second, at the agent's voice backend's per-minute
//! rate). A test call through the microphone has no carrier part; a call never answered costs 0.
//! The estimate is made once, when the call ends, and kept with the rates it used, so editing
//! the rates later changes no past call.
//!
//! The defaults are list prices kept as data in `cost_defaults.json` with where each comes from
//! and the date they were read: estimates the user is meant to correct from their own bills.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::VoiceBackend;
use super::call::CallDirection;
use super::input::Invalid;
use super::phone::is_known_region;

/// The region key for every country a carrier's table does not list.
pub const OTHER_REGION: &str = "other";
/// A bound no real per-minute price comes near: a typo (a price per hour, cents for dollars)
/// is refused rather than turned into absurd totals.
pub const MAX_RATE_PER_MIN: f64 = 10.0;
pub const MAX_INCREMENT_SECS: u32 = 60;
/// Countries per carrier: the world has fewer than 250.
pub const MAX_REGIONS: usize = 250;

/// USD per minute for calls with one country, by direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectionRates {
    /// A call from this country to one of the user's numbers.
    #[schema(minimum = 0, maximum = 10)]
    pub inbound: f64,
    /// A call the agent places to a number in this country.
    #[schema(minimum = 0, maximum = 10)]
    pub outbound: f64,
}

/// One carrier's rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierRates {
    /// The carrier bills in steps of this many seconds, each step started counting whole:
    /// 60 is per started minute, 1 is per second.
    #[schema(minimum = 1, maximum = 60)]
    pub billing_increment_secs: u32,
    /// By the far end's country (ISO 3166 code such as `US`; the caller's number on an inbound
    /// call, the callee's on an outbound one), and `other` for the rest (required).
    pub regions: BTreeMap<String, DirectionRates>,
}

/// The rates call costs are estimated at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostRates {
    /// Per carrier (`twilio`, `telnyx`, `livekit`), each required.
    pub carriers: BTreeMap<String, CarrierRates>,
    /// USD per minute of the agent's voice backend (`openai_realtime`, `retell`), each
    /// required.
    pub ai_per_minute: BTreeMap<String, f64>,
}

/// A call's estimated cost and how it was reached, kept with the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallCost {
    /// `carrier_usd + ai_usd`.
    pub total_usd: f64,
    pub carrier_usd: f64,
    pub ai_usd: f64,
    /// Seconds from the answer to the end; 0 when the call was never answered.
    pub answered_secs: i64,
    /// The carrier's carrier name, or `null` for a test call (no carrier).
    pub carrier: Option<String>,
    /// The far end's country the carrier rate was taken for (`other` when the table has no
    /// row for it); `null` for a test call.
    pub region: Option<String>,
    /// Seconds the carrier bills: the answered seconds rounded up to its increment.
    pub carrier_billed_secs: i64,
    pub billing_increment_secs: u32,
    pub carrier_rate_per_min: f64,
    pub ai_backend: VoiceBackend,
    pub ai_rate_per_min: f64,
}

/// What the estimate needs to know of a call.
#[derive(Debug, Clone)]
pub struct CostFacts<'a> {
    /// The carrier's name (`Carrier::as_str`), `None` when no carrier carried it.
    pub carrier: Option<&'a str>,
    pub direction: CallDirection,
    /// The far end's country (`phone::region_of`), if known.
    pub region: Option<String>,
    pub backend: VoiceBackend,
    /// `None` when never answered.
    pub answered_secs: Option<i64>,
}

#[derive(Deserialize)]
struct Defaults {
    sources: Vec<String>,
    as_of: String,
    rates: CostRates,
}

static DEFAULTS: LazyLock<Defaults> = LazyLock::new(|| {
    serde_json::from_str(include_str!("cost_defaults.json"))
        .expect("cost_defaults.json is valid (a unit test reads it)")
});

impl CostRates {
    /// The published list prices the rates start from (`cost_defaults.json`).
    pub fn defaults() -> Self {
        DEFAULTS.rates.clone()
    }

    /// Where each default comes from, and that it is an estimate.
    pub fn default_sources() -> &'static [String] {
        &DEFAULTS.sources
    }

    /// The day the defaults were read.
    pub fn defaults_as_of() -> &'static str {
        &DEFAULTS.as_of
    }

    /// Every rule a saved table must keep: the carriers and backends the defaults have, no
    /// others and none missing; known country codes in capitals and `other` in each table; every
    /// rate from 0 to [`MAX_RATE_PER_MIN`]; increments from 1 to [`MAX_INCREMENT_SECS`].
    pub fn check(&self) -> Result<(), Invalid> {
        let known = &DEFAULTS.rates;
        for name in known.carriers.keys() {
            if !self.carriers.contains_key(name) {
                return Err(Invalid::new("carriers", format!("{name} is missing")));
            }
        }
        for (name, c) in &self.carriers {
            if !known.carriers.contains_key(name) {
                return Err(Invalid::new(
                    "carriers",
                    format!(
                        "{name} is not a carrier (expected one of {})",
                        keys(&known.carriers)
                    ),
                ));
            }
            if !(1..=MAX_INCREMENT_SECS).contains(&c.billing_increment_secs) {
                return Err(Invalid::new(
                    "carriers",
                    format!("{name}.billing_increment_secs must be from 1 to {MAX_INCREMENT_SECS}"),
                ));
            }
            if c.regions.len() > MAX_REGIONS {
                return Err(Invalid::new(
                    "carriers",
                    format!("{name}.regions may list at most {MAX_REGIONS} countries"),
                ));
            }
            if !c.regions.contains_key(OTHER_REGION) {
                return Err(Invalid::new(
                    "carriers",
                    format!("{name}.regions needs an \"other\" row for unlisted countries"),
                ));
            }
            for (region, r) in &c.regions {
                let known_region = region == OTHER_REGION
                    || (is_known_region(region) && region.to_ascii_uppercase() == *region);
                if !known_region {
                    return Err(Invalid::new(
                        "carriers",
                        format!(
                            "{name}.regions: {:?} is not a country code such as US or GB, or \"other\"",
                            region.chars().take(20).collect::<String>()
                        ),
                    ));
                }
                for (dir, v) in [("inbound", r.inbound), ("outbound", r.outbound)] {
                    if !rate_ok(v) {
                        return Err(Invalid::new(
                            "carriers",
                            format!("{name}.regions.{region}.{dir} {}", rate_range()),
                        ));
                    }
                }
            }
        }
        for name in known.ai_per_minute.keys() {
            if !self.ai_per_minute.contains_key(name) {
                return Err(Invalid::new("ai_per_minute", format!("{name} is missing")));
            }
        }
        for (name, v) in &self.ai_per_minute {
            if VoiceBackend::parse(name).is_none() {
                return Err(Invalid::new(
                    "ai_per_minute",
                    format!(
                        "{} is not a voice backend (expected one of {})",
                        name.chars().take(40).collect::<String>(),
                        keys(&known.ai_per_minute)
                    ),
                ));
            }
            if !rate_ok(*v) {
                return Err(Invalid::new(
                    "ai_per_minute",
                    format!("{name} {}", rate_range()),
                ));
            }
        }
        Ok(())
    }

    /// The estimate for one ended call.
    pub fn estimate(&self, facts: &CostFacts<'_>) -> CallCost {
        let secs = facts.answered_secs.unwrap_or(0).max(0);
        let ai_rate = self
            .ai_per_minute
            .get(facts.backend.as_str())
            .copied()
            .unwrap_or(0.0);
        let carrier = facts
            .carrier
            .filter(|_| facts.direction != CallDirection::Test)
            .and_then(|name| Some((name, self.carriers.get(name)?)));
        let (carrier_name, region, increment, rate) = match carrier {
            Some((name, rates)) => {
                let region = facts
                    .region
                    .as_deref()
                    .filter(|r| rates.regions.contains_key(*r))
                    .unwrap_or(OTHER_REGION);
                let r = rates
                    .regions
                    .get(region)
                    .copied()
                    .unwrap_or(DirectionRates {
                        inbound: 0.0,
                        outbound: 0.0,
                    });
                let rate = match facts.direction {
                    CallDirection::Outbound => r.outbound,
                    _ => r.inbound,
                };
                (
                    Some(name.to_owned()),
                    Some(region.to_owned()),
                    rates.billing_increment_secs.max(1),
                    rate,
                )
            }
            None => (None, None, 1, 0.0),
        };
        let step = i64::from(increment);
        let billed = if carrier_name.is_some() {
            (secs + step - 1) / step * step
        } else {
            0
        };
        let carrier_usd = micro(billed as f64 / 60.0 * rate);
        let ai_usd = micro(secs as f64 / 60.0 * ai_rate);
        CallCost {
            total_usd: micro(carrier_usd + ai_usd),
            carrier_usd,
            ai_usd,
            answered_secs: secs,
            carrier: carrier_name,
            region,
            carrier_billed_secs: billed,
            billing_increment_secs: increment,
            carrier_rate_per_min: rate,
            ai_backend: facts.backend,
            ai_rate_per_min: ai_rate,
        }
    }
}

/// Whether `v` is a rate a table may hold: finite, from 0 to [`MAX_RATE_PER_MIN`].
fn rate_ok(v: f64) -> bool {
    v.is_finite() && (0.0..=MAX_RATE_PER_MIN).contains(&v)
}

fn rate_range() -> String {
    format!("must be from 0 to {MAX_RATE_PER_MIN} USD per minute")
}

fn keys<V>(m: &BTreeMap<String, V>) -> String {
    m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Rounded to a millionth of a dollar: sums of many calls stay free of float dust.
fn micro(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        carrier: Option<&'static str>,
        dir: CallDirection,
        secs: Option<i64>,
    ) -> CostFacts<'static> {
        CostFacts {
            carrier,
            direction: dir,
            region: Some("US".into()),
            backend: VoiceBackend::OpenaiRealtime,
            answered_secs: secs,
        }
    }

    fn rates() -> CostRates {
        let mut r = CostRates::defaults();
        r.ai_per_minute.insert("openai_realtime".into(), 0.12);
        r
    }

    #[test]
    fn the_defaults_are_valid_and_name_their_sources() {
        let d = CostRates::defaults();
        d.check()
            .expect("the shipped defaults must pass the rules users' tables pass");
        assert!(CostRates::default_sources().len() >= 3);
        assert!(CostRates::defaults_as_of().starts_with("20"));
        for c in d.carriers.values() {
            assert!(c.regions.contains_key(OTHER_REGION));
        }
    }

    #[test]
    fn a_carrier_billing_per_started_minute_rounds_up() {
        let r = rates();
        let twilio_us = r.carriers["twilio"].regions["US"];
        let c = r.estimate(&facts(Some("twilio"), CallDirection::Inbound, Some(61)));
        assert_eq!(c.carrier_billed_secs, 120, "61 s is two started minutes");
        assert_eq!(c.carrier_usd, micro(2.0 * twilio_us.inbound));
        assert_eq!(
            c.ai_usd,
            micro(61.0 / 60.0 * 0.12),
            "AI minutes go by the second"
        );
        assert_eq!(c.total_usd, micro(c.carrier_usd + c.ai_usd));
        let out = r.estimate(&facts(Some("twilio"), CallDirection::Outbound, Some(60)));
        assert_eq!(out.carrier_billed_secs, 60, "a whole minute stays one");
        assert_eq!(out.carrier_rate_per_min, twilio_us.outbound);
    }

    #[test]
    fn unanswered_and_test_calls() {
        let r = rates();
        let c = r.estimate(&facts(Some("twilio"), CallDirection::Outbound, None));
        assert_eq!((c.total_usd, c.carrier_billed_secs), (0.0, 0));
        let t = r.estimate(&facts(Some("local"), CallDirection::Test, Some(90)));
        assert_eq!(t.carrier_usd, 0.0, "a test call has no carrier");
        assert_eq!(t.carrier, None);
        assert_eq!(t.ai_usd, micro(1.5 * 0.12));
    }

    #[test]
    fn an_unlisted_country_takes_the_other_row() {
        let r = rates();
        let mut f = facts(Some("telnyx"), CallDirection::Outbound, Some(30));
        f.region = Some("JP".into());
        let c = r.estimate(&f);
        assert_eq!(c.region.as_deref(), Some("other"));
        assert_eq!(
            c.carrier_rate_per_min,
            r.carriers["telnyx"].regions["other"].outbound
        );
        f.region = None;
        assert_eq!(r.estimate(&f).region.as_deref(), Some("other"));
    }

    #[test]
    fn bad_tables_are_refused_naming_what_is_wrong() {
        let base = CostRates::defaults();
        type Edit = Box<dyn Fn(&mut CostRates)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|r| {
                    r.carriers.remove("telnyx");
                }),
                "carriers",
                "telnyx is missing",
            ),
            (
                Box::new(|r| {
                    let c = r.carriers["twilio"].clone();
                    r.carriers.insert("vonage".into(), c);
                }),
                "carriers",
                "vonage",
            ),
            (
                Box::new(|r| {
                    r.carriers.get_mut("twilio").unwrap().billing_increment_secs = 0;
                }),
                "carriers",
                "billing_increment_secs",
            ),
            (
                Box::new(|r| {
                    r.carriers
                        .get_mut("twilio")
                        .unwrap()
                        .regions
                        .remove("other");
                }),
                "carriers",
                "other",
            ),
            (
                Box::new(|r| {
                    r.carriers.get_mut("twilio").unwrap().regions.insert(
                        "XX".into(),
                        DirectionRates {
                            inbound: 0.0,
                            outbound: 0.0,
                        },
                    );
                }),
                "carriers",
                "XX",
            ),
            (
                Box::new(|r| {
                    r.carriers.get_mut("twilio").unwrap().regions.insert(
                        "us".into(),
                        DirectionRates {
                            inbound: 0.0,
                            outbound: 0.0,
                        },
                    );
                }),
                "carriers",
                "us",
            ),
            (
                Box::new(|r| {
                    r.carriers
                        .get_mut("twilio")
                        .unwrap()
                        .regions
                        .get_mut("US")
                        .unwrap()
                        .outbound = -0.01;
                }),
                "carriers",
                "twilio.regions.US.outbound",
            ),
            (
                Box::new(|r| {
                    r.carriers
                        .get_mut("telnyx")
                        .unwrap()
                        .regions
                        .get_mut("GB")
                        .unwrap()
                        .inbound = 11.0;
                }),
                "carriers",
                "telnyx.regions.GB.inbound",
            ),
            (
                Box::new(|r| {
                    r.ai_per_minute.insert("openai_realtime".into(), f64::NAN);
                }),
                "ai_per_minute",
                "openai_realtime",
            ),
            (
                Box::new(|r| {
                    r.ai_per_minute.insert("vapi".into(), 0.1);
                }),
                "ai_per_minute",
                "vapi",
            ),
            (
                Box::new(|r| {
                    r.ai_per_minute.remove("retell");
                }),
                "ai_per_minute",
                "retell is missing",
            ),
        ];
        for (edit, field, words) in cases {
            let mut r = base.clone();
            edit(&mut r);
            let err = r.check().expect_err(words);
            assert_eq!(err.field, field, "{err}");
            assert!(err.message.contains(words), "{err} should say {words}");
        }
    }
}
