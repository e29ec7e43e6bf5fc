//! Campaign helpers shared by the outbound test binaries: agents, campaigns and lead lists
//! through the control API, waits on a campaign's state, and a campaign clock tests move by
//! hand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::domain::Clock;
use switchboard::domain::Timestamp;

use super::Api;

/// A campaign clock that stands still until the test moves it.
#[derive(Debug)]
pub struct TestClock(pub Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

pub async fn agent(api: &Api, name: &str, max: u32, greeting: &str) -> String {
    let (s, a) = api
        .post(
            "/api/agents",
            json!({"name": name, "max_concurrent_calls": max, "greeting": greeting,
                   "system_prompt": "You call {name} for Acme."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_str().unwrap().to_owned()
}

/// Lead phone numbers: valid US numbers, distinct.
pub fn lead_phone(i: usize) -> String {
    format!("+1415555{:04}", 1000 + i)
}

/// Which lead `phone` is, as [`lead_phone`] numbered it; `None` for any other number.
pub fn lead_index(phone: &str) -> Option<usize> {
    let n: usize = phone.strip_prefix("+1415555")?.parse().ok()?;
    let i = n.checked_sub(1000)?;
    (lead_phone(i) == phone).then_some(i)
}

/// Campaign settings: five calls at once, 20 a second, no window, no retries, hang up on
/// machines, primary first; `overrides` replaces whole top-level fields.
pub fn settings(overrides: Value) -> Value {
    let mut s = json!({"max_concurrent_calls": 5, "calls_per_second": 20.0, "window": null,
        "retry": {"retry_on": [], "max_attempts": 1, "delay_secs": 0},
        "voicemail": {"action": "hang_up"}, "strategy": "primary_first",
        "default_region": null});
    for (k, v) in overrides.as_object().expect("an object of fields") {
        s[k] = v.clone();
    }
    s
}

pub async fn campaign(api: &Api, body: Value) -> String {
    let (s, c) = api.post("/api/campaigns", body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

pub async fn import(api: &Api, id: &str, csv: &str) -> Value {
    let (s, r) = api
        .raw(
            reqwest::Method::POST,
            &format!("/api/campaigns/{id}/leads/import"),
            "text/csv",
            csv,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

///
/// Calls start only inside each lead's local calling hours (08:00–21:00 at the widest), so
/// the leads are placed in a zone where it is midday now (real time): a test on the system
/// clock dials them whatever the hour it runs at. Tests on a [`TestClock`] use
/// [`leads_csv_in`] with a zone their clock's hours suit.
pub fn leads_csv(n: usize) -> String {
    leads_csv_in(n, &midday_zone())
}

/// `n` leads living in the IANA zone `tz` (their own `tz` column).
pub fn leads_csv_in(n: usize, tz: &str) -> String {
    let mut csv = String::from("name,phone,email,tz\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Lead {i},{},lead{i}@example.com,{tz}\n",
            lead_phone(i)
        ));
    }
    csv
}

/// A fixed-offset zone where the local time is now between 12:00 and 13:00.
pub fn midday_zone() -> String {
    let utc_hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    // `Etc/GMT+N` is N hours behind UTC (the POSIX sign).
    let behind = i32::from(utc_hour) - 12;
    if behind >= 0 {
        format!("Etc/GMT+{behind}")
    } else {
        format!("Etc/GMT{behind}")
    }
}

/// Polls `path` until its `field` is `value`; returns the document.
pub async fn wait_for(api: &Api, path: &str, field: &str, value: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (s, v) = api.get(path).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v[field] == value {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never had {field} {value}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the campaign has `status`, returning it (with its progress).
pub async fn wait_for_status(api: &Api, id: &str, status: &str, timeout: Duration) -> Value {
    wait_for(
        api,
        &format!("/api/campaigns/{id}"),
        "status",
        status,
        timeout,
    )
    .await
}

pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
