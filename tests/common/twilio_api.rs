//! Twilio's REST API (`/2010-04-01`) on loopback for everything but the dialer's calls (that is
//! `twilio_calls`): placing a transfer's call to a person, updating a call (hanging up, new
//! TwiML), and one account's phone numbers
//! (protocols/twilio.md §7.6, §7.7, §9.1-§9.4, errors §9.6): owned IncomingPhoneNumbers to
//! list (paged), fetch, update and release, a catalog of numbers for sale to search and buy,
//! and the account's Addresses; and of the Numbers API (`/v2`, §9.5), the account's regulatory
//! Bundles, listed (paged, absolute `next_page_url`) and required, approved and unexpired, to buy
//! a regulated number.
//!
//! Every request is recorded, then judged against Twilio's OpenAPI document
//! (`twilio_spec`): one that is not a valid operation is answered with Twilio's error and
//! kept in `violations()`, as is a valid operation this simulator does not implement
//! (prefixed "not simulated"). Then Basic auth is checked (401, 20003), then `refuse` and
//! `stall_next` apply, and only then the account's state answers.
//!
//! A call's recording (§11): `POST Calls/{sid}/Recordings.json` starts one (a valid request
//! answers the Recording resource, `RE…`); its media, `GET Recordings/{sid}.wav` (§11.5, not
//! an operation of the document: the media URL), is served with Basic auth from the files the
//! test gives (`add_recording`), 404 for others. The status callback is the test's to send.
//!
//! Numbers bought leave the catalog for good; released numbers do not come back to it.
//! Lists are in creation order; a page token is `PA`/`PB` and the sid the page starts after
//! or ends before, so paging stays stable when numbers are released between pages.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::carriers::{TWILIO_SID, TWILIO_TOKEN};
use super::twilio_spec::{self, Operation, error_response};

/// A request Twilio's REST API received.
#[derive(Debug, Clone)]
pub struct TwilioRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
}

/// A number for sale (§9.1).
#[derive(Debug, Clone)]
struct Available {
    country: String,
    /// `Local`, `Mobile` or `TollFree`, as in the search path.
    kind: String,
    phone_number: String,
    /// `none`, `any`, `local` or `foreign`.
    address_requirements: String,
    needs_bundle: bool,
}

impl Available {
    fn resource(&self) -> Value {
        json!({
            "friendly_name": self.phone_number,
            "phone_number": self.phone_number,
            "lata": null, "locality": null, "rate_center": null,
            "latitude": null, "longitude": null, "region": null, "postal_code": null,
            "iso_country": self.country,
            "address_requirements": self.address_requirements,
            "beta": false,
            "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false},
        })
    }
}

#[derive(Default)]
struct Account {
    requests: Vec<TwilioRequest>,
    violations: Vec<String>,
    refusal: Option<(StatusCode, Value)>,
    stalls: usize,
    /// Requests still to be acted on and then never answered.
    act_stalls: usize,
    /// IncomingPhoneNumber resources, in the order they were bought or seeded.
    numbers: Vec<Value>,
    available: Vec<Available>,
    /// Address resources (§9.4).
    addresses: Vec<Value>,
    /// Bundle resources (§9.5).
    bundles: Vec<Value>,
    /// Recordings' WAV files by sid, served as their media.
    recordings: std::collections::HashMap<String, Vec<u8>>,
    /// The most records a page holds whatever `PageSize` asks (0: as asked), so that a client
    /// asking for big pages still meets paging.
    page_cap: usize,
}

/// Twilio's REST API on loopback; cheap to clone, all clones one account.
#[derive(Clone)]
pub struct TwilioApi {
    account: Arc<Mutex<Account>>,
    pub base: String,
    /// The Numbers API's base (`…/v2`), on the same listener.
    pub numbers_base: String,
}

impl TwilioApi {
    pub async fn start() -> Self {
        let account = Arc::new(Mutex::new(Account::default()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(account.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (base, numbers_base) = (
            format!("http://{addr}/2010-04-01"),
            format!("http://{addr}/v2"),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            account,
            base,
            numbers_base,
        }
    }

    /// Serves `wav` as the media of recording `sid` (§11.5).
    pub fn add_recording(&self, sid: &str, wav: Vec<u8>) {
        self.account().recordings.insert(sid.to_owned(), wav);
    }

    /// The URL a recording callback gives for recording `sid` (no extension, §11.2).
    pub fn recording_url(&self, sid: &str) -> String {
        format!("{}/Accounts/{TWILIO_SID}/Recordings/{sid}", self.base)
    }

    fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.account.lock().unwrap()
    }

    /// From now on, answers every request with this status and Twilio error body.
    pub fn refuse(&self, status: u16, body: Value) {
        self.account().refusal = Some((StatusCode::from_u16(status).unwrap(), body));
    }

    /// Answers requests again (after `refuse`).
    pub fn accept(&self) {
        self.account().refusal = None;
    }

    /// Pages hold at most `n` records from now on, whatever `PageSize` asks.
    pub fn cap_page_size(&self, n: usize) {
        self.account().page_cap = n;
    }

    /// The next `n` requests are recorded but never answered (to test client timeouts).
    pub fn stall_next(&self, n: usize) {
        self.account().stalls += n;
    }

    /// The next `n` requests are carried out but never answered: the client cannot know.
    pub fn act_then_stall_next(&self, n: usize) {
        self.account().act_stalls += n;
    }

    pub fn requests(&self) -> Vec<TwilioRequest> {
        self.account().requests.clone()
    }

    /// Requests that were not valid operations of Twilio's OpenAPI document (or that this
    /// simulator does not implement), each naming the request, the operation and the problem.
    pub fn violations(&self) -> Vec<String> {
        self.account().violations.clone()
    }

    /// Waits until `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<TwilioRequest> {
        for _ in 0..200 {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "Twilio received {:?}, expected {n} requests",
            self.requests()
        );
    }

    /// Seeds a number the account already owns (a local number, no address needed); its sid.
    pub fn add_number(&self, phone_number: &str, voice_url: Option<&str>) -> String {
        let mut number = number_resource(phone_number, "local", "none");
        if let Some(url) = voice_url {
            number["voice_url"] = json!(url);
        }
        let sid = number["sid"].as_str().unwrap().to_owned();
        self.account().numbers.push(number);
        sid
    }

    /// The account's IncomingPhoneNumbers, as the API returns each.
    pub fn numbers(&self) -> Vec<Value> {
        self.account().numbers.clone()
    }

    /// Puts a number up for sale. `kind`: `Local`, `Mobile` or `TollFree`;
    /// `address_requirements`: `none`, `any`, `local` or `foreign`.
    pub fn add_available(
        &self,
        country: &str,
        kind: &str,
        phone_number: &str,
        address_requirements: &str,
        needs_bundle: bool,
    ) {
        assert!(
            ["Local", "Mobile", "TollFree"].contains(&kind),
            "a search path names Local, Mobile or TollFree, not {kind}"
        );
        assert!(
            ["none", "any", "local", "foreign"].contains(&address_requirements),
            "address_requirements is none, any, local or foreign, not {address_requirements}"
        );
        self.account().available.push(Available {
            country: country.to_owned(),
            kind: kind.to_owned(),
            phone_number: phone_number.to_owned(),
            address_requirements: address_requirements.to_owned(),
            needs_bundle,
        });
    }

    /// Someone else bought `phone_number`: it is no longer for sale.
    pub fn take_available(&self, phone_number: &str) {
        self.account()
            .available
            .retain(|a| a.phone_number != phone_number);
    }

    /// Seeds an Address on the account; its `AD…` sid.
    pub fn add_address(&self, friendly_name: &str, iso_country: &str) -> String {
        let form = [
            ("FriendlyName", friendly_name),
            ("CustomerName", "Acme Plumbing"),
            ("Street", "1 Test Street"),
            ("City", "Testville"),
            ("Region", "TS"),
            ("PostalCode", "2000"),
            ("IsoCountry", iso_country),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let address = address_resource(&form);
        let sid = address["sid"].as_str().unwrap().to_owned();
        self.account().addresses.push(address);
        sid
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

fn sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// An IncomingPhoneNumber as the API returns it (§9.2), with Twilio's defaults.
fn number_resource(phone_number: &str, kind: &str, address_requirements: &str) -> Value {
    let sid = sid("PN");
    let at = now();
    json!({
        "sid": sid,
        "account_sid": TWILIO_SID,
        "phone_number": phone_number,
        "friendly_name": phone_number,
        "voice_url": null,
        "voice_method": "POST",
        "voice_fallback_url": null,
        "voice_fallback_method": "POST",
        "voice_caller_id_lookup": false,
        "voice_application_sid": null,
        "voice_receive_mode": "voice",
        "trunk_sid": null,
        "status_callback": null,
        "status_callback_method": "POST",
        "sms_url": null, "sms_method": "POST", "sms_fallback_url": null,
        "sms_fallback_method": "POST", "sms_application_sid": null,
        "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false},
        "address_requirements": address_requirements,
        "address_sid": null,
        "bundle_sid": null,
        "identity_sid": null,
        "emergency_status": "Inactive",
        "emergency_address_sid": null,
        "emergency_address_status": "unregistered",
        "beta": false,
        "origin": "twilio",
        "status": "in-use",
        "type": kind,
        "api_version": "2010-04-01",
        "date_created": at,
        "date_updated": at,
        "uri": format!("/2010-04-01/Accounts/{TWILIO_SID}/IncomingPhoneNumbers/{sid}.json"),
    })
}

/// An Address as the API returns it (§9.4), from a create request's form.
fn address_resource(form: &[(String, String)]) -> Value {
    let sid = sid("AD");
    let at = now();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    json!({
        "sid": sid,
        "account_sid": TWILIO_SID,
        "customer_name": get("CustomerName"),
        "friendly_name": get("FriendlyName"),
        "street": get("Street"),
        "street_secondary": get("StreetSecondary"),
        "city": get("City"),
        "region": get("Region"),
        "postal_code": get("PostalCode"),
        "iso_country": get("IsoCountry"),
        "emergency_enabled": get("EmergencyEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        "validated": false,
        "verified": false,
        "date_created": at,
        "date_updated": at,
        "uri": format!("/2010-04-01/Accounts/{TWILIO_SID}/Addresses/{sid}.json"),
    })
}

impl TwilioApi {
    /// Adds a regulatory bundle for `number_type` (`mobile`, `local`, `toll-free`) numbers in
    /// `iso_country` with that `status`, valid until `valid_until` (RFC 3339) if given.
    pub fn add_bundle(
        &self,
        friendly_name: &str,
        iso_country: &str,
        number_type: &str,
        status: &str,
        valid_until: Option<&str>,
    ) -> String {
        let sid = sid("BU");
        let at = jiff::Timestamp::now().to_string();
        self.account().bundles.push(json!({
            "sid": sid,
            "account_sid": TWILIO_SID,
            "regulation_sid": sid_of("RN", &format!("{iso_country}/{number_type}")),
            "friendly_name": friendly_name,
            "status": status,
            "email": "compliance@example.test",
            "status_callback": null,
            "valid_until": valid_until,
            "date_created": at,
            "date_updated": at,
            "url": format!("https://numbers.twilio.com/v2/RegulatoryCompliance/Bundles/{sid}"),
            "links": {},
            // Not in Twilio's resource: what the simulator filters on.
            "iso_country": iso_country,
            "number_type": number_type,
        }));
        sid
    }
}

/// A sid derived from `seed`, so the same regulation always has the same one.
fn sid_of(prefix: &str, seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    format!("{prefix}{:032x}", u128::from(h.finish()))
}

fn expired(bundle: &Value) -> bool {
    bundle["valid_until"]
        .as_str()
        .and_then(|v| v.parse::<jiff::Timestamp>().ok())
        .is_some_and(|until| until <= jiff::Timestamp::now())
}

/// The Numbers API's bundle list (§9.5), judged against that section: `GET` only, its query
/// parameters and their values only, Basic auth; pages carry an absolute `next_page_url`.
fn numbers_v2(
    account: &Mutex<Account>,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    const PARAMS: [&str; 16] = [
        "Status",
        "BundleSids",
        "FriendlyName",
        "RegulationSid",
        "IsoCountry",
        "NumberType",
        "EndUserType",
        "HasValidUntilDate",
        "SortBy",
        "SortDirection",
        "ValidUntilDate",
        "ValidUntilDate<",
        "ValidUntilDate>",
        "PageSize",
        "Page",
        "PageToken",
    ];
    const STATUSES: [&str; 6] = [
        "draft",
        "pending-review",
        "in-review",
        "twilio-rejected",
        "twilio-approved",
        "provisionally-approved",
    ];
    let mut a = account.lock().unwrap();
    let problem = if method != Method::GET || path != "/v2/RegulatoryCompliance/Bundles" {
        Some(format!("not simulated: {method} {path}"))
    } else {
        query.iter().find_map(|(k, v)| match k.as_str() {
            k if !PARAMS.contains(&k) => Some(format!("unknown parameter {k}")),
            "Status" if !STATUSES.contains(&v.as_str()) => Some(format!("Status {v}")),
            "NumberType" if !["local", "mobile", "national", "toll-free"].contains(&v.as_str()) => {
                Some(format!("NumberType {v}"))
            }
            "PageSize" if !v.parse::<usize>().is_ok_and(|n| (1..=1000).contains(&n)) => {
                Some(format!("PageSize {v}"))
            }
            _ => None,
        })
    };
    if let Some(problem) = problem {
        a.violations.push(format!("{method} {path}: {problem}"));
        return error_response(StatusCode::BAD_REQUEST, 20001, &problem);
    }
    if !authorized(headers) {
        return error_response(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if let Some((status, body)) = a.refusal.clone() {
        return (status, axum::Json(body)).into_response();
    }
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let found: Vec<&Value> = a
        .bundles
        .iter()
        .filter(|b| {
            ["Status", "IsoCountry", "NumberType"]
                .into_iter()
                .zip(["status", "iso_country", "number_type"])
                .all(|(param, field)| q(param).is_none_or(|v| b[field] == v))
        })
        .collect();
    let asked: usize = q("PageSize").and_then(|s| s.parse().ok()).unwrap_or(50);
    let size = if a.page_cap > 0 {
        asked.min(a.page_cap)
    } else {
        asked
    };
    let number: usize = q("Page").and_then(|s| s.parse().ok()).unwrap_or(0);
    let start = (number * size).min(found.len());
    let end = (start + size).min(found.len());
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = |page: usize| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in query.iter().filter(|(k, _)| k != "Page" && k != "PageSize") {
            s.append_pair(k, v);
        }
        s.append_pair("PageSize", &size.to_string());
        s.append_pair("Page", &page.to_string());
        format!("http://{host}{path}?{}", s.finish())
    };
    let results: Vec<Value> = found[start..end]
        .iter()
        .map(|b| {
            let mut b = (*b).clone();
            let o = b.as_object_mut().unwrap();
            o.remove("iso_country");
            o.remove("number_type");
            b
        })
        .collect();
    let body = json!({
        "results": results,
        "meta": {
            "page": number,
            "page_size": size,
            "first_page_url": url(0),
            "previous_page_url": (number > 0).then(|| url(number - 1)),
            "url": url(number),
            "next_page_url": (end < found.len()).then(|| url(number + 1)),
            "key": "results",
        },
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The request carries the test account's Basic credentials (both Twilio fakes check them).
pub fn authorized(headers: &HeaderMap) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {expected}"))
}

/// Every request: record, judge, then answer (see the module's header for the order).
async fn answer(
    State(account): State<Arc<Mutex<Account>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let act_then_stall = {
        let mut a = account.lock().unwrap();
        let act = a.act_stalls > 0;
        a.act_stalls = a.act_stalls.saturating_sub(1);
        act
    };
    let response = answer_now(State(account), method, uri, headers, body).await;
    if act_then_stall {
        std::future::pending::<()>().await;
    }
    response
}

async fn answer_now(
    State(account): State<Arc<Mutex<Account>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let query = twilio_spec::pairs(uri.query().unwrap_or_default());
    let form = twilio_spec::pairs(&body);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stall = {
        let mut a = account.lock().unwrap();
        a.requests.push(TwilioRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: query.clone(),
            form: form.clone(),
            authorization,
        });
        let stall = a.stalls > 0;
        a.stalls = a.stalls.saturating_sub(1);
        stall
    };
    if stall {
        std::future::pending::<()>().await;
    }
    if uri.path().starts_with("/v2/") {
        return numbers_v2(&account, &method, uri.path(), &query, &headers);
    }
    if let Some(sid) = media_sid(uri.path()) {
        return recording_media(&account, &method, uri.path(), sid, &headers);
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let op = match twilio_spec::spec().check(&method, uri.path(), &query, &form, content_type) {
        Ok(op) => op,
        Err(refusal) => {
            account
                .lock()
                .unwrap()
                .violations
                .push(refusal.violation.clone());
            return refusal.response();
        }
    };
    if !authorized(&headers) || op.path.get("AccountSid").map(String::as_str) != Some(TWILIO_SID) {
        return error_response(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let mut a = account.lock().unwrap();
    if let Some((status, body)) = a.refusal.clone() {
        return (status, axum::Json(body)).into_response();
    }
    let req = Req {
        op: &op,
        path: uri.path(),
        query: &query,
        form: &form,
    };
    match op.id.as_str() {
        "UpdateCall" => {
            let status = req.form("Status").unwrap_or("completed");
            let call = json!({"sid": op.path["Sid"], "account_sid": TWILIO_SID, "status": status});
            (StatusCode::OK, axum::Json(call)).into_response()
        }
        // A warm transfer's call to a person (the dialer's calls are `twilio_calls`'s): a
        // new sid, queued; its progress is for the test to report, as Twilio would.
        "CreateCall" => {
            let sid = format!("CA{:032x}", 0xc0ffee_u128 + a.requests.len() as u128);
            let call = json!({
                "sid": sid, "account_sid": TWILIO_SID, "status": "queued",
                "to": req.form("To"), "from": req.form("From"),
            });
            (StatusCode::CREATED, axum::Json(call)).into_response()
        }
        // §11.1: the Recording resource, as Twilio answers a start.
        "CreateCallRecording" => {
            let recording = json!({
                "account_sid": TWILIO_SID, "api_version": "2010-04-01",
                "call_sid": op.path["CallSid"], "conference_sid": null,
                "channels": if req.form("RecordingChannels") == Some("dual") { 2 } else { 1 },
                "date_created": now(), "date_updated": now(), "start_time": now(),
                "price": null, "price_unit": null, "duration": null,
                "sid": sid("RE"), "source": "StartCallRecordingAPI", "status": "in-progress",
                "error_code": null, "encryption_details": null,
                "track": req.form("RecordingTrack").unwrap_or("both"),
            });
            (StatusCode::CREATED, axum::Json(recording)).into_response()
        }
        "ListIncomingPhoneNumber" => list_numbers(&a, &req),
        "CreateIncomingPhoneNumber"
        | "CreateIncomingPhoneNumberLocal"
        | "CreateIncomingPhoneNumberMobile"
        | "CreateIncomingPhoneNumberTollFree" => buy(&mut a, &req),
        "FetchIncomingPhoneNumber" => match a.numbers.iter().find(|n| n["sid"] == op.path["Sid"]) {
            Some(n) => (StatusCode::OK, axum::Json(n.clone())).into_response(),
            None => not_found(req.path),
        },
        "UpdateIncomingPhoneNumber" => update_number(&mut a, &req),
        "DeleteIncomingPhoneNumber" => {
            let before = a.numbers.len();
            a.numbers.retain(|n| n["sid"] != op.path["Sid"]);
            if a.numbers.len() == before {
                return not_found(req.path);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        "ListAvailablePhoneNumberLocal"
        | "ListAvailablePhoneNumberMobile"
        | "ListAvailablePhoneNumberTollFree" => search(&a, &req),
        "ListAddress" => list_addresses(&a, &req),
        "CreateAddress" => {
            let address = address_resource(req.form);
            a.addresses.push(address.clone());
            (StatusCode::CREATED, axum::Json(address)).into_response()
        }
        "FetchAddress" => match a.addresses.iter().find(|n| n["sid"] == op.path["Sid"]) {
            Some(ad) => (StatusCode::OK, axum::Json(ad.clone())).into_response(),
            None => not_found(req.path),
        },
        other => {
            a.violations.push(format!(
                "not simulated: {method} {} ({other}) is valid but this simulator does not implement it",
                req.path
            ));
            not_found(req.path)
        }
    }
}

/// A valid request, for the operations' handlers.
struct Req<'a> {
    op: &'a Operation,
    path: &'a str,
    query: &'a [(String, String)],
    form: &'a [(String, String)],
}

impl Req<'_> {
    fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.query(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// The recording sid of a media URL: `/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.wav`.
fn media_sid(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/2010-04-01/Accounts/")?;
    let (_, rest) = rest.split_once("/Recordings/")?;
    rest.strip_suffix(".wav").filter(|s| !s.contains('/'))
}

/// §11.5: a recording's WAV, with the account's Basic auth.
fn recording_media(
    account: &Arc<Mutex<Account>>,
    method: &Method,
    path: &str,
    sid: &str,
    headers: &HeaderMap,
) -> Response {
    let mut a = account.lock().unwrap();
    if method != Method::GET {
        a.violations
            .push(format!("{method} {path}: a recording's media is only read"));
        return not_found(path);
    }
    if !authorized(headers) || !path.starts_with(&format!("/2010-04-01/Accounts/{TWILIO_SID}/")) {
        return error_response(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    match a.recordings.get(sid) {
        Some(wav) => ([("content-type", "audio/x-wav")], wav.clone()).into_response(),
        None => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

fn refused(code: u32, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message)
}

/// `pattern` (digits, `*` = any one character, a leading `+` anchoring the start and a
/// trailing `$` the end) somewhere in `number`.
fn matches(pattern: &str, number: &str) -> bool {
    let (anchored_start, pattern) = match pattern.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, pattern) = match pattern.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let digits: Vec<char> = number.trim_start_matches('+').chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    if pattern.len() > digits.len() {
        return false;
    }
    let fits = |at: usize| {
        pattern
            .iter()
            .zip(&digits[at..])
            .all(|(p, d)| *p == '*' || p == d)
    };
    let last = digits.len() - pattern.len();
    match (anchored_start, anchored_end) {
        (true, true) => last == 0 && fits(0),
        (true, false) => fits(0),
        (false, true) => fits(last),
        (false, false) => (0..=last).any(fits),
    }
}

/// One page of `items` under `key` with the §7.7 metadata; `filters` are the query's other
/// parameters, kept in every page URI.
fn page(items: &[Value], key: &str, req: &Req, filters: &[(&str, &str)], cap: usize) -> Response {
    let asked: usize = req
        .query("PageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let size = if cap > 0 { asked.min(cap) } else { asked };
    let number: usize = req.query("Page").and_then(|s| s.parse().ok()).unwrap_or(0);
    let position = |sid: &str| items.iter().position(|i| i["sid"] == sid);
    let start = match req.query("PageToken") {
        Some(t) if t.starts_with("PA") => position(&t[2..]).map(|i| i + 1),
        Some(t) if t.starts_with("PB") => position(&t[2..]).map(|i| i.saturating_sub(size)),
        _ => None,
    }
    .unwrap_or(number * size)
    .min(items.len());
    let end = (start + size).min(items.len());
    let records = &items[start..end];
    let uri = |page: usize, token: Option<String>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in filters {
            q.append_pair(k, v);
        }
        q.append_pair("PageSize", &size.to_string());
        q.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            q.append_pair("PageToken", &t);
        }
        format!("{}?{}", req.path, q.finish())
    };
    let sid_at = |i: usize| items[i]["sid"].as_str().unwrap_or_default().to_owned();
    let next = (end < items.len()).then(|| uri(number + 1, Some(format!("PA{}", sid_at(end - 1)))));
    let previous =
        (number > 0 && start > 0).then(|| uri(number - 1, Some(format!("PB{}", sid_at(start)))));
    let body = json!({
        key: records,
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + records.len().saturating_sub(1),
        "first_page_uri": uri(0, None),
        "next_page_uri": next,
        "previous_page_uri": previous,
        "uri": uri(number, req.query("PageToken").map(str::to_owned)),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The query's filters (every parameter but paging), to repeat in page URIs.
fn filters<'a>(req: &'a Req) -> Vec<(&'a str, &'a str)> {
    req.query
        .iter()
        .filter(|(k, _)| !["PageSize", "Page", "PageToken"].contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// §9.3 list: `PhoneNumber` (partial, `*` per digit), `FriendlyName`, `Origin`.
fn list_numbers(a: &Account, req: &Req) -> Response {
    let items: Vec<Value> = a
        .numbers
        .iter()
        .filter(|n| {
            req.query("PhoneNumber").is_none_or(|p| {
                matches(
                    p.trim_start_matches('+'),
                    n["phone_number"].as_str().unwrap_or(""),
                )
            })
        })
        .filter(|n| {
            req.query("FriendlyName")
                .is_none_or(|f| n["friendly_name"] == f)
        })
        .filter(|n| req.query("Origin").is_none_or(|o| n["origin"] == o))
        .cloned()
        .collect();
    page(
        &items,
        "incoming_phone_numbers",
        req,
        &filters(req),
        a.page_cap,
    )
}

/// §9.4 list: `CustomerName`, `FriendlyName`, `IsoCountry`, `EmergencyEnabled`.
fn list_addresses(a: &Account, req: &Req) -> Response {
    let items: Vec<Value> = a
        .addresses
        .iter()
        .filter(|ad| {
            req.query("CustomerName")
                .is_none_or(|v| ad["customer_name"] == v)
        })
        .filter(|ad| {
            req.query("FriendlyName")
                .is_none_or(|v| ad["friendly_name"] == v)
        })
        .filter(|ad| {
            req.query("IsoCountry")
                .is_none_or(|v| ad["iso_country"] == v)
        })
        .filter(|ad| {
            req.query("EmergencyEnabled")
                .is_none_or(|v| ad["emergency_enabled"] == v.eq_ignore_ascii_case("true"))
        })
        .cloned()
        .collect();
    page(&items, "addresses", req, &filters(req), a.page_cap)
}

/// The search path's type: `…/AvailablePhoneNumbers/AU/Mobile.json` → `Mobile`.
fn path_kind(template: &str) -> &str {
    template
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".json")
}

/// §9.1 search: the catalog's numbers in the path's country and type, filtered. One page
/// (no `next_page_uri`): Twilio answers a search with at most `PageSize` numbers.
fn search(a: &Account, req: &Req) -> Response {
    let country = req.op.path["CountryCode"].as_str();
    let kind = path_kind(&req.op.template);
    let size: usize = req
        .query("PageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let found: Vec<Value> = a
        .available
        .iter()
        .filter(|n| n.country == country && n.kind == kind)
        .filter(|n| {
            req.query("AreaCode")
                .is_none_or(|ac| n.phone_number.starts_with(&format!("+1{ac}")))
        })
        .filter(|n| {
            req.query("Contains")
                .is_none_or(|c| matches(c, &n.phone_number))
        })
        .filter(|n| !(req.flag("ExcludeAllAddressRequired") && n.address_requirements == "any"))
        .filter(|n| !(req.flag("ExcludeLocalAddressRequired") && n.address_requirements == "local"))
        .filter(|n| {
            !(req.flag("ExcludeForeignAddressRequired") && n.address_requirements == "foreign")
        })
        .take(size)
        .map(Available::resource)
        .collect();
    let uri = match req.query.is_empty() {
        true => req.path.to_owned(),
        false => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.extend_pairs(req.query);
            format!("{}?{}", req.path, q.finish())
        }
    };
    let body = json!({
        "available_phone_numbers": found,
        "uri": uri,
        "page": 0,
        "page_size": size,
        "start": 0,
        "end": found.len().saturating_sub(1),
        "first_page_uri": uri,
        "next_page_uri": null,
        "previous_page_uri": null,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// §9.2 buy: the number (or one in the area code) must be for sale; an address that meets
/// its requirement and a bundle where it needs one.
fn buy(a: &mut Account, req: &Req) -> Response {
    // The typed variants (`IncomingPhoneNumbers/Mobile.json`) buy only numbers of that type.
    let kind = match req.op.id.strip_prefix("CreateIncomingPhoneNumber") {
        Some("") | None => None,
        Some(k) => Some(k),
    };
    let position = match (req.form("PhoneNumber"), req.form("AreaCode")) {
        (Some(p), _) => a.available.iter().position(|n| n.phone_number == p),
        (None, Some(ac)) => {
            let found = a
                .available
                .iter()
                .position(|n| n.phone_number.starts_with(&format!("+1{ac}")));
            if found.is_none() {
                return refused(21452, &format!("No phone numbers found in area code {ac}"));
            }
            found
        }
        (None, None) => None, // the spec check refused this already
    };
    let Some(i) = position.filter(|i| kind.is_none_or(|k| a.available[*i].kind == k)) else {
        return refused(21422, "PhoneNumber is not available");
    };
    let entry = a.available[i].clone();
    if entry.address_requirements != "none" {
        let Some(address_sid) = req.form("AddressSid") else {
            return refused(
                21631,
                &format!(
                    "Phone Number Requires an Address: {} needs an AddressSid ({} address)",
                    entry.phone_number, entry.address_requirements
                ),
            );
        };
        let Some(address) = a.addresses.iter().find(|ad| ad["sid"] == address_sid) else {
            return refused(
                21631,
                &format!("Phone Number Requires an Address: no address {address_sid}"),
            );
        };
        let local = address["iso_country"] == entry.country.as_str();
        let fits = match entry.address_requirements.as_str() {
            "local" => local,
            "foreign" => !local,
            _ => true,
        };
        if !fits {
            return refused(
                21631,
                &format!(
                    "Phone Number Requires an Address: {} needs a {} address, {address_sid} is in {}",
                    entry.phone_number, entry.address_requirements, address["iso_country"]
                ),
            );
        }
    }
    let approved = |sid: &str| {
        a.bundles.iter().any(|b| {
            b["sid"] == sid
                && b["status"] == "twilio-approved"
                && b["iso_country"] == entry.country.as_str()
                && !expired(b)
        })
    };
    if entry.needs_bundle && !req.form("BundleSid").is_some_and(approved) {
        return refused(
            21649,
            &format!(
                "{} is a regulated number: a compliant BundleSid is required",
                entry.phone_number
            ),
        );
    }
    let kind = match entry.kind.as_str() {
        "TollFree" => "toll-free",
        "Mobile" => "mobile",
        _ => "local",
    };
    let mut number = number_resource(&entry.phone_number, kind, &entry.address_requirements);
    apply(&mut number, req.form);
    a.available.remove(i);
    a.numbers.push(number.clone());
    (StatusCode::CREATED, axum::Json(number)).into_response()
}

/// §9.3 update: the buy fields; `AccountSid` moves the number off this account.
fn update_number(a: &mut Account, req: &Req) -> Response {
    let Some(i) = a
        .numbers
        .iter()
        .position(|n| n["sid"] == req.op.path["Sid"])
    else {
        return not_found(req.path);
    };
    apply(&mut a.numbers[i], req.form);
    a.numbers[i]["date_updated"] = json!(now());
    let number = a.numbers[i].clone();
    if number["account_sid"] != TWILIO_SID {
        a.numbers.remove(i);
    }
    (StatusCode::OK, axum::Json(number)).into_response()
}

/// Sets a number's fields from a buy or update form (`VoiceUrl` → `voice_url`).
fn apply(number: &mut Value, form: &[(String, String)]) {
    let fields: &mut Map<String, Value> = number.as_object_mut().unwrap();
    for (name, value) in form {
        if ["PhoneNumber", "AreaCode"].contains(&name.as_str()) {
            continue;
        }
        let key = snake(name);
        let value = match key.as_str() {
            "voice_caller_id_lookup" => json!(value.eq_ignore_ascii_case("true")),
            _ => json!(value),
        };
        // A voice application and a trunk exclude each other (§9.2): setting one clears the other.
        match key.as_str() {
            "voice_application_sid" => {
                fields.insert("trunk_sid".into(), Value::Null);
            }
            "trunk_sid" => {
                fields.insert("voice_application_sid".into(), Value::Null);
            }
            _ => {}
        }
        fields.insert(key, value);
    }
}

/// `VoiceUrl` → `voice_url`.
fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
