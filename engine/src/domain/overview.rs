//! The overview's numbers (issue 16, point 5): the call log summed over a range of days in a
//! time zone, per day, outcome, agent and campaign, and a campaign's funnel.
//!
//! The sums come from the database's rollup (migration `20261208000501_overview.sql`), one row
//! per quarter hour in UTC: every time zone's offset is a whole number of quarter hours, so a
//! local day is exactly a run of buckets, and which day a bucket belongs to is decided here
//! (`Range::day_of`), daylight saving included.

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use serde::Serialize;
use utoipa::ToSchema;

use super::call::{CallDirection, CallStatus};

/// A rollup bucket's length: a quarter hour.
pub const BUCKET_MS: i64 = 900_000;
/// The longest range asked for at once (a year and a bit, to compare with the year before).
pub const MAX_DAYS: i64 = 400;
/// The range's default length when none is given.
pub const DEFAULT_DAYS: i64 = 30;
/// Dates outside this span are refused: they are no call's, and older time zones had offsets
/// that are not whole quarter hours.
pub const FIRST_DATE: Date = jiff::civil::date(2000, 1, 1);
pub const LAST_DATE: Date = jiff::civil::date(2100, 12, 31);

/// What a range or time zone asked for cannot be, each naming its parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error(
        "tz must be an IANA time zone such as Europe/Paris, or an offset such as +05:30, not \"{0}\""
    )]
    Zone(String),
    #[error("{0} must be a date such as 2026-01-31 between 2000-01-01 and 2100-12-31")]
    Date(&'static str),
    #[error("from must not be after to")]
    Order,
    #[error("the range must be at most {MAX_DAYS} days")]
    TooLong,
}

/// A time zone by IANA name (`Europe/Paris`), `UTC`/`Z`, or a fixed offset (`+05:30`, `-08:00`)
/// of whole quarter hours.
pub fn parse_zone(text: &str) -> Result<TimeZone, RangeError> {
    let bad = || RangeError::Zone(text.chars().take(64).collect());
    if text.is_empty() || text.len() > 64 || text.contains('\0') {
        return Err(bad());
    }
    if matches!(text, "UTC" | "Z" | "utc") {
        return Ok(TimeZone::UTC);
    }
    if let Some(rest) = text.strip_prefix(['+', '-']) {
        let sign = if text.starts_with('-') { -1 } else { 1 };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) else {
            return Err(bad());
        };
        if !(0..=14).contains(&h) || !matches!(m, 0 | 15 | 30 | 45) || (h == 14 && m > 0) {
            return Err(bad());
        }
        let offset = Offset::from_seconds(sign * (h * 3600 + m * 60)).map_err(|_| bad())?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(text).map_err(|_| bad())
}

/// Parses a `YYYY-MM-DD` date parameter named `name`, within the allowed span.
pub fn parse_date(name: &'static str, text: &str) -> Result<Date, RangeError> {
    let date: Date = text.parse().map_err(|_| RangeError::Date(name))?;
    if !(FIRST_DATE..=LAST_DATE).contains(&date) {
        return Err(RangeError::Date(name));
    }
    Ok(date)
}

/// Local days `from..=to` in a time zone, as the UTC instants they start at.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: Date,
    pub to: Date,
    /// `starts[i]` is day `i`'s first millisecond; the last entry is the end of the range.
    starts: Vec<i64>,
}

impl Range {
    pub fn new(from: Date, to: Date, tz: &TimeZone) -> Result<Self, RangeError> {
        if from > to {
            return Err(RangeError::Order);
        }
        let days = to.since(from).map_err(|_| RangeError::TooLong)?.get_days() as i64 + 1;
        if days > MAX_DAYS {
            return Err(RangeError::TooLong);
        }
        let mut starts = Vec::with_capacity(days as usize + 1);
        let mut day = from;
        for _ in 0..=days {
            // A day starts at its first instant, even where midnight is skipped by a change of
            // offset (the start is then the first instant after the gap).
            let start = day
                .to_zoned(tz.clone())
                .map_err(|_| RangeError::Date("to"))?
                .timestamp()
                .as_millisecond();
            starts.push(start);
            day = day.tomorrow().map_err(|_| RangeError::Date("to"))?;
        }
        Ok(Self { from, to, starts })
    }

    /// The `days` days ending with `today`.
    pub fn last_days(today: Date, days: i64, tz: &TimeZone) -> Result<Self, RangeError> {
        let from = today
            .checked_sub(jiff::Span::new().days(days - 1))
            .map_err(|_| RangeError::Date("from"))?;
        Self::new(from, today, tz)
    }

    pub fn days(&self) -> usize {
        self.starts.len() - 1
    }

    /// The first rollup bucket in the range, and the first after it.
    pub fn buckets(&self) -> (i64, i64) {
        (
            self.starts[0].div_euclid(BUCKET_MS),
            self.starts[self.days()].div_euclid(BUCKET_MS),
        )
    }

    /// Day `i`'s date.
    pub fn date(&self, i: usize) -> Date {
        self.from
            .checked_add(jiff::Span::new().days(i as i64))
            .unwrap_or(self.to)
    }

    /// Which day (an index) a bucket falls on, if any.
    pub fn day_of(&self, bucket: i64) -> Option<usize> {
        let at = bucket * BUCKET_MS;
        let after = self.starts.partition_point(|&s| s <= at);
        (1..=self.days()).contains(&after).then(|| after - 1)
    }
}

/// Raw sums of the rollup's measures over some of its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub calls: i64,
    pub answered: i64,
    pub voicemail: i64,
    pub timed: i64,
    pub duration_secs: i64,
    pub costed: i64,
    pub cost_micros: i64,
    pub analyzed: i64,
    pub goal_met: i64,
    pub goal_missed: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
}

impl std::ops::AddAssign for Sums {
    fn add_assign(&mut self, o: Self) {
        self.calls += o.calls;
        self.answered += o.answered;
        self.voicemail += o.voicemail;
        self.timed += o.timed;
        self.duration_secs += o.duration_secs;
        self.costed += o.costed;
        self.cost_micros += o.cost_micros;
        self.analyzed += o.analyzed;
        self.goal_met += o.goal_met;
        self.goal_missed += o.goal_missed;
        self.positive += o.positive;
        self.neutral += o.neutral;
        self.negative += o.negative;
    }
}

/// A group's sums by direction: an agent's or a campaign's (no id for none), with its name.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: Option<String>,
    pub name: Option<String>,
    pub direction: CallDirection,
    pub sums: Sums,
}

/// What the overview is made of, as the rollup gives it, before it is laid out in days.
#[derive(Debug, Clone, Default)]
pub struct OverviewRows {
    /// (bucket, direction, sums), buckets ascending.
    pub buckets: Vec<(i64, CallDirection, Sums)>,
    pub statuses: Vec<(CallStatus, i64)>,
    pub agents: Vec<Group>,
    pub campaigns: Vec<Group>,
}

/// Calls of some set: how many per direction, answered, how long, what they cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Totals {
    pub calls: i64,
    pub inbound: i64,
    pub outbound: i64,
    /// Test calls (this machine's microphone).
    pub test: i64,
    pub answered: i64,
    /// Answered calls over all calls; none without calls.
    pub answer_rate: Option<f64>,
    /// Answered by a machine (answering-machine detection).
    pub voicemail: i64,
    pub total_duration_secs: i64,
    /// Over the calls that have a duration; none without such calls.
    pub average_duration_secs: Option<f64>,
    /// The sum of the calls' estimated costs, where estimated.
    pub cost_usd: f64,
    /// Calls with an estimated cost.
    pub costed_calls: i64,
}

/// Adds up (direction, sums) rows into totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub sums: Sums,
    pub inbound: i64,
    pub outbound: i64,
    pub test: i64,
}

impl Tally {
    pub fn add(&mut self, direction: CallDirection, s: Sums) {
        match direction {
            CallDirection::Inbound => self.inbound += s.calls,
            CallDirection::Outbound => self.outbound += s.calls,
            CallDirection::Test => self.test += s.calls,
        }
        self.sums += s;
    }

    pub fn totals(&self) -> Totals {
        let s = &self.sums;
        Totals {
            calls: s.calls,
            inbound: self.inbound,
            outbound: self.outbound,
            test: self.test,
            answered: s.answered,
            answer_rate: (s.calls > 0).then(|| s.answered as f64 / s.calls as f64),
            voicemail: s.voicemail,
            total_duration_secs: s.duration_secs,
            average_duration_secs: (s.timed > 0).then(|| s.duration_secs as f64 / s.timed as f64),
            cost_usd: s.cost_micros as f64 / 1e6,
            costed_calls: s.costed,
        }
    }

    pub fn analysis(&self) -> AnalysisCounts {
        let s = &self.sums;
        AnalysisCounts {
            analyzed: s.analyzed,
            goal_met: s.goal_met,
            goal_missed: s.goal_missed,
            positive: s.positive,
            neutral: s.neutral,
            negative: s.negative,
        }
    }
}

/// What the post-call analyses (those done) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnalysisCounts {
    pub analyzed: i64,
    pub goal_met: i64,
    pub goal_missed: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
}

/// One local day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD` in the range's time zone.
    pub date: String,
    pub totals: Totals,
}

/// Calls that ended (or stand) in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutcomeCount {
    pub status: CallStatus,
    pub calls: i64,
}

/// One agent's calls in the range; no id for calls whose agent was deleted or never set.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentTotals {
    pub agent_id: Option<String>,
    pub name: Option<String>,
    pub totals: Totals,
    pub analysis: AnalysisCounts,
}

/// One campaign's calls in the range; no id for calls of no campaign.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignTotals {
    pub campaign_id: Option<String>,
    pub name: Option<String>,
    pub totals: Totals,
    pub analysis: AnalysisCounts,
}

/// The numbers at a glance over local days `from..=to`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Overview {
    pub from: String,
    pub to: String,
    pub tz: String,
    pub totals: Totals,
    pub analysis: AnalysisCounts,
    /// Every day of the range, in order, days without calls included.
    pub days: Vec<Day>,
    /// Statuses with calls, most calls first.
    pub outcomes: Vec<OutcomeCount>,
    /// Agents with calls, most calls first.
    pub agents: Vec<AgentTotals>,
    /// Campaigns with calls, most calls first (calls of no campaign as one row without id).
    pub campaigns: Vec<CampaignTotals>,
}

impl Overview {
    /// Lays the rollup's rows out over the range's days (`tz` is the zone as asked for).
    pub fn build(range: &Range, tz: &str, rows: OverviewRows) -> Self {
        let mut days = vec![Tally::default(); range.days()];
        let mut all = Tally::default();
        for (bucket, direction, sums) in rows.buckets {
            if let Some(i) = range.day_of(bucket) {
                days[i].add(direction, sums);
                all.add(direction, sums);
            }
        }
        let mut outcomes: Vec<OutcomeCount> = rows
            .statuses
            .into_iter()
            .map(|(status, calls)| OutcomeCount { status, calls })
            .collect();
        outcomes.sort_by(|a, b| {
            b.calls
                .cmp(&a.calls)
                .then(a.status.as_str().cmp(b.status.as_str()))
        });
        let agents = grouped(rows.agents)
            .into_iter()
            .map(|(agent_id, name, t)| AgentTotals {
                agent_id,
                name,
                totals: t.totals(),
                analysis: t.analysis(),
            })
            .collect();
        let campaigns = grouped(rows.campaigns)
            .into_iter()
            .map(|(campaign_id, name, t)| CampaignTotals {
                campaign_id,
                name,
                totals: t.totals(),
                analysis: t.analysis(),
            })
            .collect();
        Self {
            from: range.from.to_string(),
            to: range.to.to_string(),
            tz: tz.to_owned(),
            totals: all.totals(),
            analysis: all.analysis(),
            days: days
                .iter()
                .enumerate()
                .map(|(i, t)| Day {
                    date: range.date(i).to_string(),
                    totals: t.totals(),
                })
                .collect(),
            outcomes,
            agents,
            campaigns,
        }
    }
}

/// Groups' rows (one per direction) added up per group, most calls first, then by name.
fn grouped(groups: Vec<Group>) -> Vec<(Option<String>, Option<String>, Tally)> {
    let mut out: Vec<(Option<String>, Option<String>, Tally)> = Vec::new();
    for g in groups {
        match out.iter_mut().find(|(id, _, _)| *id == g.id) {
            Some((_, _, t)) => t.add(g.direction, g.sums),
            None => {
                let mut t = Tally::default();
                t.add(g.direction, g.sums);
                out.push((g.id, g.name, t));
            }
        }
    }
    out.retain(|(_, _, t)| t.sums.calls > 0);
    out.sort_by(|a, b| {
        b.2.sums
            .calls
            .cmp(&a.2.sums.calls)
            .then_with(|| a.1.cmp(&b.1))
    });
    out
}

/// A campaign's calls from dialed to goal met, over its whole life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Funnel {
    pub dialed: i64,
    pub answered: i64,
    /// Answered by a machine.
    pub voicemail: i64,
    /// Ended as `completed` (connected and hung up normally).
    pub completed: i64,
    /// Analysed calls whose analysis says the agent's goal was met.
    pub goal_met: i64,
    pub analyzed: i64,
}

impl From<Sums> for Funnel {
    fn from(s: Sums) -> Self {
        Self {
            dialed: s.calls,
            answered: s.answered,
            voicemail: s.voicemail,
            completed: 0,
            goal_met: s.goal_met,
            analyzed: s.analyzed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    #[test]
    fn zones_by_name_and_offset() {
        assert!(parse_zone("Europe/Paris").is_ok());
        assert!(parse_zone("UTC").is_ok());
        assert_eq!(
            parse_zone("+05:30").unwrap().to_fixed_offset().unwrap(),
            Offset::from_seconds(19_800).unwrap()
        );
        for bad in [
            "",
            "Mars/Base",
            "+05:10",
            "+15:00",
            "+5:x",
            "Europe/Paris\0",
            "-14:30",
        ] {
            assert!(parse_zone(bad).is_err(), "{bad:?} is no usable zone");
        }
    }

    #[test]
    fn ranges_are_checked() {
        let d = |s: &str| parse_date("from", s).unwrap();
        assert_eq!(
            Range::new(d("2026-02-02"), d("2026-02-01"), &TimeZone::UTC).unwrap_err(),
            RangeError::Order
        );
        assert_eq!(
            Range::new(d("2025-01-01"), d("2026-02-05"), &TimeZone::UTC).unwrap_err(),
            RangeError::TooLong
        );
        assert_eq!(
            Range::new(d("2025-01-01"), d("2026-02-04"), &TimeZone::UTC)
                .unwrap()
                .days(),
            400
        );
        assert!(parse_date("to", "1999-12-31").is_err());
        assert!(parse_date("to", "2026-02-30").is_err());
    }

    #[test]
    fn buckets_fall_on_local_days_across_daylight_saving() {
        // 2026-03-29: Paris goes from +01:00 to +02:00 at 02:00, a 23-hour day.
        let r = Range::new(
            jiff::civil::date(2026, 3, 28),
            jiff::civil::date(2026, 3, 30),
            &paris(),
        )
        .unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond() / BUCKET_MS;
        assert_eq!(
            r.day_of(at("2026-03-27T22:59:00Z")),
            None,
            "before the range"
        );
        assert_eq!(
            r.day_of(at("2026-03-27T23:00:00Z")),
            Some(0),
            "Paris' midnight"
        );
        assert_eq!(r.day_of(at("2026-03-28T22:59:00Z")), Some(0));
        assert_eq!(r.day_of(at("2026-03-28T23:00:00Z")), Some(1));
        // The 29th ended at 22:00 UTC, an hour earlier than it began.
        assert_eq!(r.day_of(at("2026-03-29T21:45:00Z")), Some(1));
        assert_eq!(r.day_of(at("2026-03-29T22:00:00Z")), Some(2));
        assert_eq!(
            r.day_of(at("2026-03-30T22:00:00Z")),
            None,
            "after the range"
        );
        let (first, end) = r.buckets();
        assert_eq!((end - first) * BUCKET_MS, (24 + 23 + 24) * 3_600_000);
        // Kathmandu's +05:45 splits days at a quarter hour, still on a bucket's edge.
        let k = Range::new(
            jiff::civil::date(2026, 3, 1),
            jiff::civil::date(2026, 3, 1),
            &TimeZone::get("Asia/Kathmandu").unwrap(),
        )
        .unwrap();
        assert_eq!(k.day_of(at("2026-02-28T18:15:00Z")), Some(0));
        assert_eq!(k.day_of(at("2026-02-28T18:00:00Z")), None);
    }
}
