//! Outbound campaigns: a lead list worked through by a pool of agents, within limits (calls at
//! once, calls per second, a calling window read in each lead's own local time, never wider
//! than the legal calling-hours floor), with retries and a voicemail policy. Pure rules; the
//! dialer (`crate::campaigns`) applies them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{Invalid, bounded_text, required_text};
use super::time::Timestamp;

const NAME_MAX: usize = 100;
const PROMPT_MAX: usize = 32_000;
const MESSAGE_MAX: usize = 2_000;
pub const MAX_CONCURRENT_LIMIT: u32 = 1_000;
pub const MAX_CALLS_PER_SECOND: f64 = 500.0;
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being set up; nothing is dialed.
    Draft,
    Running,
    /// Dials nothing new; calls under way finish.
    Paused,
    /// Ended by an operator; pending leads stay as they are.
    Stopped,
    /// Every lead has reached a final state.
    Completed,
}

impl CampaignStatus {
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Running,
        Self::Paused,
        Self::Stopped,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An operator's command on a campaign, and the statuses it may be given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Stop,
}

impl CampaignAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }

    /// The status the campaign moves to, or why it cannot from `from`.
    pub fn apply(self, from: CampaignStatus) -> Result<CampaignStatus, NotFromStatus> {
        use CampaignStatus::*;
        let to = match (self, from) {
            (Self::Start, Draft | Stopped | Completed) => Running,
            (Self::Pause, Running) => Paused,
            (Self::Resume, Paused) => Running,
            (Self::Stop, Running | Paused) => Stopped,
            _ => return Err(NotFromStatus { action: self, from }),
        };
        Ok(to)
    }
}

/// An action a campaign's status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a campaign that is {}", action.as_str(), from.as_str())]
pub struct NotFromStatus {
    pub action: CampaignAction,
    pub from: CampaignStatus,
}

/// How the agent for each call is chosen from the campaign's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectionStrategy {
    /// Primaries in pool order first, then backups: the first with a free slot.
    #[default]
    PrimaryFirst,
    RoundRobin,
    LeastLoaded,
    Random,
}

/// How a call ended, as far as its lead is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A person answered and the call ran.
    Answered,
    Busy,
    NoAnswer,
    /// An answering machine took the call.
    Voicemail,
    /// The carrier could not place the call, or refused to.
    Failed,
    /// Switchboard stopped before the carrier was asked; the lead was never dialed.
    NotPlaced,
    /// The call may have been placed but how it went cannot be learned (Switchboard was
    /// down meanwhile and the carrier keeps no answer). Never retried: that could call the
    /// lead twice.
    Unknown,
    /// The number is on a do-not-call list (global or the campaign's): settled without a call,
    /// never retried.
    DoNotCall,
}

impl Outcome {
    pub const ALL: [Self; 8] = [
        Self::Answered,
        Self::Busy,
        Self::NoAnswer,
        Self::Voicemail,
        Self::Failed,
        Self::NotPlaced,
        Self::Unknown,
        Self::DoNotCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Voicemail => "voicemail",
            Self::Failed => "failed",
            Self::NotPlaced => "not_placed",
            Self::Unknown => "unknown",
            Self::DoNotCall => "do_not_call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The daily hours calls may start, read in each lead's own local time: a lead in Los Angeles
/// is called 09:00–17:00 Los Angeles time, one in New York 09:00–17:00 New York time, and a
/// lead whose number spans zones only when it is inside the hours in all of them. A window
/// may not be wider than the calling-hours floor (Settings; 08:00–21:00 by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallingWindow {
    /// `HH:MM`, inclusive, lead-local.
    #[schema(example = "09:00")]
    pub start: String,
    /// `HH:MM`, exclusive, lead-local. Earlier than `start` means the window runs past
    /// midnight (which the floor allows only if it runs past midnight too).
    #[schema(example = "17:00")]
    pub end: String,
    /// IANA zone, e.g. `America/New_York`: the local time of leads whose zone is not known
    /// (no `time_zone` column and a number the zone table does not place).
    pub time_zone: String,
    /// ISO weekdays calls may start on, 1 = Monday … 7 = Sunday. Empty: every day.
    #[serde(default)]
    pub days: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Outcomes that get another attempt.
    pub retry_on: Vec<Outcome>,
    /// Attempts in all, the first included.
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: u32,
    /// Seconds between an attempt's end and the next.
    #[schema(minimum = 0, maximum = 604800)]
    pub delay_secs: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_on: vec![Outcome::Busy, Outcome::NoAnswer, Outcome::Failed],
            max_attempts: 3,
            delay_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum VoicemailPolicy {
    /// Hang up as soon as a machine is detected.
    #[default]
    HangUp,
    /// The agent speaks `message` after the beep, then hangs up.
    LeaveMessage {
        #[schema(min_length = 1, max_length = 2000)]
        message: String,
    },
}

impl VoicemailPolicy {
    /// A message to leave must be there and bounded (`field` names it).
    pub fn validate(&self, field: &'static str) -> Result<(), Invalid> {
        if let Self::LeaveMessage { message } = self {
            required_text(field, message, MESSAGE_MAX)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    #[schema(minimum = 1, maximum = 1000)]
    pub max_concurrent_calls: u32,
    /// New calls started per second at most.
    #[schema(minimum = 0.01, maximum = 500)]
    pub calls_per_second: f64,
    /// No window: calls may start at any time.
    pub window: Option<CallingWindow>,
    pub retry: RetryPolicy,
    pub voicemail: VoicemailPolicy,
    pub strategy: SelectionStrategy,
    /// ISO 3166 alpha-2 region for lead numbers written without a country code.
    pub default_region: Option<String>,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 5,
            calls_per_second: 1.0,
            window: None,
            retry: RetryPolicy::default(),
            voicemail: VoicemailPolicy::default(),
            strategy: SelectionStrategy::default(),
            default_region: None,
        }
    }
}

impl CampaignSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1..=MAX_CONCURRENT_LIMIT).contains(&self.max_concurrent_calls) {
            return Err(Invalid::new(
                "max_concurrent_calls",
                format!("must be between 1 and {MAX_CONCURRENT_LIMIT}"),
            ));
        }
        if !(self.calls_per_second.is_finite()
            && (0.01..=MAX_CALLS_PER_SECOND).contains(&self.calls_per_second))
        {
            return Err(Invalid::new(
                "calls_per_second",
                format!("must be between 0.01 and {MAX_CALLS_PER_SECOND}"),
            ));
        }
        if let Some(w) = &self.window {
            w.validate()?;
        }
        let r = &self.retry;
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&r.max_attempts) {
            return Err(Invalid::new(
                "retry.max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}"),
            ));
        }
        if r.delay_secs > 7 * 24 * 3600 {
            return Err(Invalid::new(
                "retry.delay_secs",
                "must be at most 604800 (a week)",
            ));
        }
        if r.retry_on.iter().any(|o| {
            matches!(
                o,
                Outcome::Answered | Outcome::NotPlaced | Outcome::Unknown | Outcome::DoNotCall
            )
        }) {
            return Err(Invalid::new(
                "retry.retry_on",
                "may list busy, no_answer, voicemail and failed only",
            ));
        }
        self.voicemail.validate("voicemail.message")?;
        if let Some(region) = &self.default_region
            && !super::phone::is_known_region(region)
        {
            return Err(Invalid::new(
                "default_region",
                format!("\"{region}\" is not a known two-letter region code such as US or GB"),
            ));
        }
        Ok(())
    }

    /// When a lead whose attempt ended with `outcome` (its `attempts`-th) is next due, or
    /// `None` when it is finished.
    pub fn next_attempt(&self, outcome: Outcome, attempts: u32, ended: Timestamp) -> NextStep {
        match outcome {
            Outcome::Answered => NextStep::Done,
            // Listed numbers are never dialed, whatever the retry policy says.
            Outcome::DoNotCall => NextStep::Failed,
            // Never dialed: it goes back in line without using up an attempt.
            Outcome::NotPlaced => NextStep::Retry { at: ended },
            o if self.retry.retry_on.contains(&o) && attempts < self.retry.max_attempts => {
                NextStep::Retry {
                    at: Timestamp::from_millis(
                        ended.as_millis() + i64::from(self.retry.delay_secs) * 1000,
                    ),
                }
            }
            _ => NextStep::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Done,
    Retry { at: Timestamp },
    Failed,
}

impl CallingWindow {
    fn parse_hm(field: &'static str, s: &str) -> Result<jiff::civil::Time, Invalid> {
        jiff::civil::Time::strptime("%H:%M", s.trim())
            .map_err(|_| Invalid::new(field, format!("\"{s}\" is not a time such as 09:30")))
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        Self::parse_hm("window.start", &self.start)?;
        Self::parse_hm("window.end", &self.end)?;
        if self.start.trim() == self.end.trim() {
            return Err(Invalid::new("window.end", "must differ from the start"));
        }
        jiff::tz::TimeZone::get(&self.time_zone).map_err(|_| {
            Invalid::new(
                "window.time_zone",
                format!(
                    "\"{}\" is not a known time zone (use a name such as America/New_York)",
                    self.time_zone
                ),
            )
        })?;
        if let Some(d) = self.days.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(Invalid::new(
                "window.days",
                format!("{d} is not a weekday (1 = Monday … 7 = Sunday)"),
            ));
        }
        Ok(())
    }

    /// Whether a call may start at `now`; if not, when it next may (within two weeks).
    pub fn check(&self, now: Timestamp) -> Result<(), Timestamp> {
        let (Ok(start), Ok(end), Ok(tz)) = (
            Self::parse_hm("", &self.start),
            Self::parse_hm("", &self.end),
            jiff::tz::TimeZone::get(&self.time_zone),
        ) else {
            // Validated on the way in; a window that no longer parses blocks nothing.
            return Ok(());
        };
        let Ok(at) = jiff::Timestamp::from_millisecond(now.as_millis()) else {
            return Ok(());
        };
        let zoned = at.to_zoned(tz.clone());
        let open_at = |date: jiff::civil::Date| -> bool {
            self.days.is_empty()
                || self
                    .days
                    .contains(&(date.weekday().to_monday_one_offset() as u8))
        };
        let t = zoned.time();
        let today = zoned.date();
        let inside = if start < end {
            t >= start && t < end && open_at(today)
        } else {
            // Past midnight: the part after midnight belongs to yesterday's window.
            (t >= start && open_at(today)) || (t < end && today.yesterday().is_ok_and(&open_at))
        };
        if inside {
            return Ok(());
        }
        // The next opening: today's start if still ahead, else a following day's.
        for offset in 0..15 {
            let Ok(day) = today.checked_add(jiff::Span::new().days(offset)) else {
                break;
            };
            if !open_at(day) {
                continue;
            }
            let Ok(opening) = day.to_datetime(start).to_zoned(tz.clone()) else {
                continue;
            };
            if opening.timestamp() > at {
                return Err(Timestamp::from_millis(opening.timestamp().as_millisecond()));
            }
        }
        Err(Timestamp::from_millis(now.as_millis() + 24 * 3600 * 1000))
    }
}

/// The legal calling-hours floor: hours outside which no call starts, in the lead's local
/// time, whatever a campaign's window says. A window may narrow it, never widen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallingHours {
    /// `HH:MM`, inclusive, lead-local; not before 08:00.
    #[schema(example = "08:00")]
    pub start: String,
    /// `HH:MM`, exclusive, lead-local; not after 21:00.
    #[schema(example = "21:00")]
    pub end: String,
}

/// The widest the floor may be: the US TCPA's 8 am to 9 pm, local to the called party.
pub const LEGAL_START: &str = "08:00";
pub const LEGAL_END: &str = "21:00";

impl Default for CallingHours {
    fn default() -> Self {
        Self {
            start: LEGAL_START.into(),
            end: LEGAL_END.into(),
        }
    }
}

impl CallingHours {
    /// Checks a floor being set: a day's span inside 08:00–21:00 (narrowing is allowed).
    pub fn validate(&self) -> Result<(), Invalid> {
        let start = CallingWindow::parse_hm("calling_hours.start", &self.start)?;
        let end = CallingWindow::parse_hm("calling_hours.end", &self.end)?;
        let (legal_start, legal_end) = Self::default().times().expect("valid");
        if start < legal_start {
            return Err(Invalid::new(
                "calling_hours.start",
                format!("may not be before {LEGAL_START}, the legal limit (lead-local time)"),
            ));
        }
        if end > legal_end {
            return Err(Invalid::new(
                "calling_hours.end",
                format!("may not be after {LEGAL_END}, the legal limit (lead-local time)"),
            ));
        }
        if start >= end {
            return Err(Invalid::new("calling_hours.end", "must be after the start"));
        }
        Ok(())
    }

    fn times(&self) -> Option<(jiff::civil::Time, jiff::civil::Time)> {
        Some((
            CallingWindow::parse_hm("", &self.start).ok()?,
            CallingWindow::parse_hm("", &self.end).ok()?,
        ))
    }

    /// Refuses a campaign window reaching outside the floor, naming the limit.
    pub fn contains(&self, w: &CallingWindow) -> Result<(), Invalid> {
        let (Some((floor_start, floor_end)), Ok(start), Ok(end)) = (
            self.times(),
            CallingWindow::parse_hm("window.start", &w.start),
            CallingWindow::parse_hm("window.end", &w.end),
        ) else {
            return Ok(());
        };
        let limit = format!(
            "calls may start only between {} and {} in the lead's local time (the calling-hours \
             floor in Settings)",
            self.start, self.end
        );
        if start < floor_start || start >= floor_end {
            return Err(Invalid::new(
                "window.start",
                format!("{} is outside the floor: {limit}", w.start),
            ));
        }
        if end > floor_end || end <= start {
            return Err(Invalid::new(
                "window.end",
                format!("{} is outside the floor: {limit}", w.end),
            ));
        }
        Ok(())
    }
}

/// When calls may start for a lead: inside the floor and the campaign's window (if any), in
/// every one of the lead's zones.
#[derive(Debug, Clone)]
pub struct LeadHours {
    floor: (jiff::civil::Time, jiff::civil::Time),
    window: Option<(jiff::civil::Time, jiff::civil::Time, Vec<u8>)>,
    /// Stands in for a lead whose zones are not known.
    fallback: jiff::tz::TimeZone,
}

impl LeadHours {
    pub fn new(floor: &CallingHours, window: Option<&CallingWindow>) -> Self {
        let floor_times = floor
            .times()
            .or_else(|| CallingHours::default().times())
            .expect("the legal floor parses");
        let window_times = window.and_then(|w| {
            Some((
                CallingWindow::parse_hm("", &w.start).ok()?,
                CallingWindow::parse_hm("", &w.end).ok()?,
                w.days.clone(),
            ))
        });
        let fallback = window
            .and_then(|w| jiff::tz::TimeZone::get(&w.time_zone).ok())
            .unwrap_or_else(jiff::tz::TimeZone::system);
        Self {
            floor: floor_times,
            window: window_times,
            fallback,
        }
    }

    /// The zones a key names, the fallback for an unknown key (zones the database does not
    /// know are left out; a key with none left falls back too).
    fn zones(&self, key: &str) -> Vec<jiff::tz::TimeZone> {
        let zones: Vec<_> = super::time_zones::zones_in(key)
            .into_iter()
            .filter_map(|z| jiff::tz::TimeZone::get(z).ok())
            .collect();
        if zones.is_empty() {
            vec![self.fallback.clone()]
        } else {
            zones
        }
    }

    fn open_in(&self, tz: &jiff::tz::TimeZone, at: jiff::Timestamp) -> bool {
        let zoned = at.to_zoned(tz.clone());
        let t = zoned.time();
        let (fs, fe) = self.floor;
        if !inside(t, fs, fe) {
            return false;
        }
        let Some((start, end, days)) = &self.window else {
            return true;
        };
        let open_at = |date: jiff::civil::Date| {
            days.is_empty() || days.contains(&(date.weekday().to_monday_one_offset() as u8))
        };
        let today = zoned.date();
        if start < end {
            inside(t, *start, *end) && open_at(today)
        } else {
            (t >= *start && open_at(today)) || (t < *end && today.yesterday().is_ok_and(open_at))
        }
    }

    /// Whether a lead whose zones are `key` may be called at `now`.
    pub fn open(&self, key: &str, now: Timestamp) -> bool {
        let Ok(at) = jiff::Timestamp::from_millisecond(now.as_millis()) else {
            return false;
        };
        self.zones(key).iter().all(|tz| self.open_in(tz, at))
    }

    /// Whether the lead may be called at `now`; if not, when it next may (within two weeks),
    /// or `None` when its zones never share an allowed hour then.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), Option<Timestamp>> {
        let Ok(at) = jiff::Timestamp::from_millisecond(now.as_millis()) else {
            return Err(None);
        };
        let zones = self.zones(key);
        let all_open = |t: jiff::Timestamp| zones.iter().all(|tz| self.open_in(tz, t));
        if all_open(at) {
            return Ok(());
        }
        // The hours of all zones open together at the moment the last of them opens: some
        // zone's floor or window start on some day.
        let mut starts = vec![self.floor.0];
        if let Some((start, _, _)) = &self.window {
            starts.push(*start);
        }
        let mut candidates = Vec::new();
        for tz in &zones {
            let today = at.to_zoned(tz.clone()).date();
            for offset in -1..15i64 {
                let Ok(day) = today.checked_add(jiff::Span::new().days(offset)) else {
                    continue;
                };
                for start in &starts {
                    if let Ok(z) = day.to_datetime(*start).to_zoned(tz.clone())
                        && z.timestamp() > at
                    {
                        candidates.push(z.timestamp());
                    }
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        Err(candidates
            .into_iter()
            .find(|t| all_open(*t))
            .map(|t| Timestamp::from_millis(t.as_millisecond())))
    }
}

fn inside(t: jiff::civil::Time, start: jiff::civil::Time, end: jiff::civil::Time) -> bool {
    if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    }
}

/// An agent in a campaign's pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolAgent {
    pub agent_id: String,
    /// Primaries are tried before backups (primary-first strategy).
    #[serde(default = "yes")]
    pub primary: bool,
}

fn yes() -> bool {
    true
}

/// A campaign as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
    /// Added to each agent's instructions for this campaign's calls; `{name}`, `{email}` and
    /// `{phone}` are the lead's.
    pub prompt: String,
    pub settings: CampaignSettings,
    /// In pool order.
    pub agents: Vec<PoolAgent>,
    /// Managed numbers calls are placed from (caller IDs), used in turn.
    pub number_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A create or update request: fields left out keep their current (or default) value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 32000)]
    pub prompt: Option<String>,
    pub settings: Option<CampaignSettings>,
    pub agents: Option<Vec<PoolAgent>>,
    pub number_ids: Option<Vec<String>>,
}

/// The editable part of a campaign, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CampaignFields {
    pub name: String,
    pub prompt: String,
    pub settings: CampaignSettings,
    pub agents: Vec<PoolAgent>,
    pub number_ids: Vec<String>,
}

impl From<&Campaign> for CampaignFields {
    fn from(c: &Campaign) -> Self {
        Self {
            name: c.name.clone(),
            prompt: c.prompt.clone(),
            settings: c.settings.clone(),
            agents: c.agents.clone(),
            number_ids: c.number_ids.clone(),
        }
    }
}

impl CampaignInput {
    pub fn apply(self, mut base: CampaignFields) -> Result<CampaignFields, Invalid> {
        if let Some(name) = self.name {
            base.name = required_text("name", &name, NAME_MAX)?;
        } else if base.name.is_empty() {
            return Err(Invalid::new("name", "is required"));
        }
        if let Some(p) = self.prompt {
            base.prompt = bounded_text("prompt", &p, PROMPT_MAX)?;
        }
        if let Some(s) = self.settings {
            s.validate()?;
            base.settings = s;
        }
        if let Some(agents) = self.agents {
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = agents.iter().find(|a| !seen.insert(a.agent_id.as_str())) {
                return Err(Invalid::new(
                    "agents",
                    format!("agent {} is listed twice", dup.agent_id),
                ));
            }
            base.agents = agents;
        }
        if let Some(numbers) = self.number_ids {
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = numbers.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(Invalid::new(
                    "number_ids",
                    format!("number {dup} is listed twice"),
                ));
            }
            base.number_ids = numbers;
        }
        Ok(base)
    }
}

/// Where a lead is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// An attempt is under way.
    Dialing,
    /// Reached.
    Done,
    /// Out of attempts, or ended with an outcome that is not retried.
    Failed,
}

impl LeadStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Dialing, Self::Done, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dialing => "dialing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str, days: Vec<u8>) -> CallingWindow {
        CallingWindow {
            start: start.into(),
            end: end.into(),
            time_zone: "America/New_York".into(),
            days,
        }
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse(rfc3339).unwrap()
    }

    #[test]
    fn texts_are_bounded_where_the_openapi_document_says() {
        use crate::domain::input::documented_max_length;
        for field in ["name", "prompt"] {
            let max = documented_max_length::<CampaignInput>(field);
            let with = |n: usize| -> CampaignInput {
                serde_json::from_value(serde_json::json!({"name": "C", field: "a".repeat(n)}))
                    .unwrap()
            };
            assert!(
                with(max).apply(CampaignFields::default()).is_ok(),
                "{field}: {max}"
            );
            assert_eq!(
                with(max + 1)
                    .apply(CampaignFields::default())
                    .unwrap_err()
                    .field,
                field,
                "{field}: one more than the document's {max} is refused"
            );
        }
        let max = documented_max_length::<VoicemailPolicy>("message");
        let leave = |n: usize| CampaignSettings {
            voicemail: VoicemailPolicy::LeaveMessage {
                message: "a".repeat(n),
            },
            ..CampaignSettings::default()
        };
        assert!(
            leave(max).validate().is_ok(),
            "a {max}-character message is allowed"
        );
        assert_eq!(
            leave(max + 1).validate().unwrap_err().field,
            "voicemail.message"
        );
    }

    #[test]
    fn a_window_is_read_in_its_own_time_zone() {
        let w = window("09:00", "17:00", vec![]);
        // 13:59 UTC is 08:59 in New York (EST, UTC-5) in January.
        assert_eq!(
            w.check(at("2026-01-15T13:59:00Z")),
            Err(at("2026-01-15T14:00:00Z")),
            "before nine in New York the next opening is nine the same morning"
        );
        assert_eq!(w.check(at("2026-01-15T14:00:00Z")), Ok(()));
        assert_eq!(w.check(at("2026-01-15T21:59:59Z")), Ok(()));
        assert_eq!(
            w.check(at("2026-01-15T22:00:00Z")),
            Err(at("2026-01-16T14:00:00Z")),
            "five o'clock closes the window until the next morning"
        );
        // In July New York is on EDT (UTC-4).
        assert_eq!(w.check(at("2026-07-15T13:30:00Z")), Ok(()));
    }

    #[test]
    fn weekdays_and_windows_past_midnight() {
        // 2026-01-17 is a Saturday.
        let weekdays = window("09:00", "17:00", vec![1, 2, 3, 4, 5]);
        assert_eq!(
            weekdays.check(at("2026-01-17T15:00:00Z")),
            Err(at("2026-01-19T14:00:00Z")),
            "a Saturday waits for Monday morning"
        );
        let night = window("22:00", "02:00", vec![]);
        assert_eq!(night.check(at("2026-01-16T04:00:00Z")), Ok(()), "23:00");
        assert_eq!(night.check(at("2026-01-16T06:30:00Z")), Ok(()), "01:30");
        assert_eq!(
            night.check(at("2026-01-16T08:00:00Z")),
            Err(at("2026-01-17T03:00:00Z")),
            "03:00 waits for 22:00"
        );
    }

    #[test]
    fn retries_follow_the_policy() {
        let s = CampaignSettings {
            retry: RetryPolicy {
                retry_on: vec![Outcome::Busy, Outcome::NoAnswer],
                max_attempts: 2,
                delay_secs: 60,
            },
            ..Default::default()
        };
        let t = Timestamp::from_millis(1_000_000);
        assert_eq!(s.next_attempt(Outcome::Answered, 1, t), NextStep::Done);
        assert_eq!(
            s.next_attempt(Outcome::Busy, 1, t),
            NextStep::Retry {
                at: Timestamp::from_millis(1_060_000)
            }
        );
        assert_eq!(
            s.next_attempt(Outcome::Busy, 2, t),
            NextStep::Failed,
            "the second attempt was the last"
        );
        assert_eq!(
            s.next_attempt(Outcome::Failed, 1, t),
            NextStep::Failed,
            "failed is not in retry_on"
        );
        assert_eq!(
            s.next_attempt(Outcome::NotPlaced, 2, t),
            NextStep::Retry { at: t },
            "a lead never dialed goes straight back"
        );
    }

    #[test]
    fn settings_are_checked_with_the_field_named() {
        let mut s = CampaignSettings {
            calls_per_second: 0.0,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "calls_per_second");
        s.calls_per_second = 2.0;
        s.window = Some(CallingWindow {
            time_zone: "Mars/Olympus".into(),
            ..window("09:00", "17:00", vec![])
        });
        assert_eq!(s.validate().unwrap_err().field, "window.time_zone");
        s.window = Some(window("9am", "17:00", vec![]));
        assert_eq!(s.validate().unwrap_err().field, "window.start");
        s.window = Some(window("09:00", "17:00", vec![0]));
        assert_eq!(s.validate().unwrap_err().field, "window.days");
        s.window = None;
        s.default_region = Some("XX".into());
        assert_eq!(s.validate().unwrap_err().field, "default_region");
        s.default_region = Some("GB".into());
        assert_eq!(s.validate(), Ok(()));
        s.retry.retry_on.push(Outcome::Answered);
        assert_eq!(s.validate().unwrap_err().field, "retry.retry_on");
    }

    fn hours(window: Option<CallingWindow>) -> LeadHours {
        LeadHours::new(&CallingHours::default(), window.as_ref())
    }

    #[test]
    fn the_window_is_read_in_each_leads_own_zone() {
        let h = hours(Some(window("09:00", "17:00", vec![])));
        // 14:30 UTC in January: 09:30 in New York, 06:30 in Los Angeles.
        let now = at("2026-01-15T14:30:00Z");
        assert_eq!(h.check("America/New_York", now), Ok(()));
        assert_eq!(
            h.check("America/Los_Angeles", now),
            Err(Some(at("2026-01-15T17:00:00Z"))),
            "Los Angeles waits for its own nine o'clock"
        );
        // An unknown zone is read in the window's zone (New York).
        assert_eq!(h.check("", now), Ok(()));
        assert!(!h.open("Asia/Tokyo", now), "23:30 in Tokyo");
    }

    #[test]
    fn a_number_spanning_zones_is_called_only_when_all_are_inside() {
        let h = hours(Some(window("09:00", "17:00", vec![])));
        let split = "America/Boise&America/Los_Angeles";
        // 16:30 UTC in January: 09:30 in Boise, 08:30 in Los Angeles.
        assert_eq!(
            h.check(split, at("2026-01-15T16:30:00Z")),
            Err(Some(at("2026-01-15T17:00:00Z"))),
            "opens when Los Angeles reaches nine"
        );
        assert_eq!(h.check(split, at("2026-01-15T17:00:00Z")), Ok(()));
        // 23:30 UTC: 16:30 in Boise, 15:30 in Los Angeles; at 00:00 UTC Boise is at 17:00.
        assert_eq!(h.check(split, at("2026-01-15T23:30:00Z")), Ok(()));
        assert_eq!(
            h.check(split, at("2026-01-16T00:00:00Z")),
            Err(Some(at("2026-01-16T17:00:00Z"))),
            "closes when Boise reaches five"
        );
        // Tokyo and New York share an hour or three of the floor: 08:00 in Tokyo is 18:00
        // in New York.
        assert_eq!(
            hours(None).check("America/New_York&Asia/Tokyo", at("2026-01-15T14:30:00Z")),
            Err(Some(at("2026-01-15T23:00:00Z")))
        );
        // Sydney and London share no nine-to-five hour: never open.
        assert_eq!(
            h.check("Australia/Sydney&Europe/London", at("2026-01-15T14:30:00Z")),
            Err(None)
        );
    }

    #[test]
    fn the_floor_holds_without_a_window_and_narrows_a_wide_one() {
        let h = hours(None);
        // 07:59 and 08:00 in Chicago (CST, UTC-6); 21:00 closes.
        assert_eq!(
            h.check("America/Chicago", at("2026-01-15T13:59:00Z")),
            Err(Some(at("2026-01-15T14:00:00Z")))
        );
        assert_eq!(
            h.check("America/Chicago", at("2026-01-15T14:00:00Z")),
            Ok(())
        );
        assert_eq!(
            h.check("America/Chicago", at("2026-01-16T03:00:00Z")),
            Err(Some(at("2026-01-16T14:00:00Z")))
        );
        // A window saved before the floor was narrowed still stops at the floor.
        let narrow = CallingHours {
            start: "10:00".into(),
            end: "18:00".into(),
        };
        let h = LeadHours::new(&narrow, Some(&window("09:00", "20:00", vec![])));
        assert_eq!(
            h.check("America/New_York", at("2026-01-15T14:30:00Z")),
            Err(Some(at("2026-01-15T15:00:00Z")))
        );
        assert!(!h.open("America/New_York", at("2026-01-15T23:30:00Z")));
    }

    #[test]
    fn local_hours_follow_daylight_saving_time() {
        let h = hours(Some(window("09:00", "17:00", vec![])));
        // New York moves to EDT on 2026-03-08: nine o'clock is 14:00 UTC before, 13:00 after.
        assert_eq!(
            h.check("America/New_York", at("2026-03-07T13:30:00Z")),
            Err(Some(at("2026-03-07T14:00:00Z")))
        );
        assert_eq!(
            h.check("America/New_York", at("2026-03-09T13:30:00Z")),
            Ok(())
        );
        // Saturday evening before the change: the next opening is Sunday 09:00 EDT.
        assert_eq!(
            h.check("America/New_York", at("2026-03-07T23:00:00Z")),
            Err(Some(at("2026-03-08T13:00:00Z")))
        );
        // Phoenix keeps MST all year.
        assert_eq!(
            h.check("America/Phoenix", at("2026-07-15T15:30:00Z")),
            Err(Some(at("2026-07-15T16:00:00Z")))
        );
    }

    #[test]
    fn weekdays_are_the_leads_own_across_midnight_utc() {
        // Friday 2026-01-16 16:30 in Los Angeles is Saturday 00:30 UTC; a weekday window
        // still calls it, and a Saturday morning in Tokyo (same instant) is not a weekday.
        let h = hours(Some(window("09:00", "17:00", vec![1, 2, 3, 4, 5])));
        assert_eq!(
            h.check("America/Los_Angeles", at("2026-01-17T00:30:00Z")),
            Ok(())
        );
        assert_eq!(
            h.check("Asia/Tokyo", at("2026-01-17T00:30:00Z")),
            Err(Some(at("2026-01-19T00:00:00Z"))),
            "Saturday 09:30 in Tokyo waits for Monday 09:00"
        );
    }

    #[test]
    fn the_floor_refuses_wider_windows_and_wider_floors() {
        let floor = CallingHours::default();
        assert_eq!(floor.contains(&window("08:00", "21:00", vec![])), Ok(()));
        assert_eq!(floor.contains(&window("09:00", "17:00", vec![])), Ok(()));
        let e = floor
            .contains(&window("07:30", "17:00", vec![]))
            .unwrap_err();
        assert_eq!(e.field, "window.start");
        assert!(e.message.contains("08:00 and 21:00"), "{}", e.message);
        assert_eq!(
            floor
                .contains(&window("09:00", "21:30", vec![]))
                .unwrap_err()
                .field,
            "window.end"
        );
        assert_eq!(
            floor
                .contains(&window("20:00", "02:00", vec![]))
                .unwrap_err()
                .field,
            "window.end",
            "past midnight is past the floor"
        );
        let wide = CallingHours {
            start: "07:00".into(),
            end: "21:00".into(),
        };
        assert_eq!(wide.validate().unwrap_err().field, "calling_hours.start");
        let late = CallingHours {
            start: "08:00".into(),
            end: "22:00".into(),
        };
        assert!(late.validate().unwrap_err().message.contains("21:00"));
        let narrow = CallingHours {
            start: "09:00".into(),
            end: "20:00".into(),
        };
        assert_eq!(narrow.validate(), Ok(()));
    }

    #[test]
    fn actions_move_between_statuses() {
        use CampaignStatus::*;
        assert_eq!(CampaignAction::Start.apply(Draft), Ok(Running));
        assert_eq!(CampaignAction::Pause.apply(Running), Ok(Paused));
        assert_eq!(CampaignAction::Resume.apply(Paused), Ok(Running));
        assert_eq!(CampaignAction::Stop.apply(Paused), Ok(Stopped));
        assert!(CampaignAction::Resume.apply(Running).is_err());
        assert!(CampaignAction::Pause.apply(Draft).is_err());
    }
}
