//! Telnyx's numbers API on loopback (protocols/telnyx.md §8): numbers for sale (searched with
//! §8.1's filters), number orders (asynchronous: pending, then a success that puts the number
//! on the account, or held for regulatory information), the account's phone numbers (listed in
//! pages, routed to a connection, released), its requirement groups and its Call Control
//! applications (read, and updated with the two fields Telnyx requires). A request outside
//! those sections (an unknown query or body field, a missing required one, a bad page size,
//! a wrong key) is refused as Telnyx would and kept in `violations()`.
//!
//! Every request is recorded; then the key is checked, then `refuse`, `stall_next` and
//! `act_then_stall_next` apply, and only then the account's state answers.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const TELNYX_NUMBERS_KEY: &str = "KEY-telnyx-numbers-test";

/// A request the simulator received: method, path and query, and its JSON body.
#[derive(Debug, Clone)]
pub struct TelnyxRequest {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// A number for sale (§8.1).
#[derive(Debug, Clone)]
struct Available {
    country: String,
    kind: String,
    phone_number: String,
    /// Orders of it are held for regulatory information unless they name an approved
    /// requirement group for its country and kind.
    needs_group: bool,
}

#[derive(Default)]
struct Account {
    numbers: Vec<Value>,
    applications: Vec<Value>,
    available: Vec<Available>,
    orders: Vec<Value>,
    groups: Vec<Value>,
    requests: Vec<TelnyxRequest>,
    violations: Vec<String>,
    refusal: Option<(StatusCode, Value)>,
    /// Requests still to be recorded and never answered.
    stalls: usize,
    /// Requests still to be carried out and never answered.
    act_stalls: usize,
    /// Reads of a new order it stays pending for before it succeeds (`usize::MAX`: for ever).
    pending_reads: usize,
    /// The most numbers a page holds whatever `page[size]` asks (0: as asked).
    page_cap: usize,
    next: u64,
}

#[derive(Clone)]
pub struct TelnyxNumbers {
    account: Arc<Mutex<Account>>,
    pub base: String,
}

type Shared = State<Arc<Mutex<Account>>>;

impl TelnyxNumbers {
    pub async fn start() -> Self {
        let account = Arc::new(Mutex::new(Account::default()));
        let app = axum::Router::new()
            .route("/v2/available_phone_numbers", get(search))
            .route("/v2/number_orders", axum::routing::post(order))
            .route("/v2/number_orders/{id}", get(read_order))
            .route("/v2/requirement_groups", get(groups))
            .route("/v2/phone_numbers", get(list))
            .route(
                "/v2/phone_numbers/{id}",
                axum::routing::patch(update).delete(release),
            )
            .route(
                "/v2/call_control_applications/{id}",
                get(application).patch(update_application),
            )
            .layer(axum::middleware::from_fn_with_state(
                account.clone(),
                faults,
            ))
            .with_state(account.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { account, base }
    }

    fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.account.lock().unwrap()
    }

    pub fn cap_page_size(&self, n: usize) {
        self.account().page_cap = n;
    }

    /// A Call Control application sending its webhooks to `webhook_url`; its id.
    pub fn add_application(&self, name: &str, webhook_url: &str) -> String {
        let mut a = self.account();
        a.next += 1;
        let id = format!("14944047571402{:05}", a.next);
        a.applications.push(json!({
            "id": id, "record_type": "call_control_application", "application_name": name,
            "active": true, "webhook_event_url": webhook_url, "webhook_api_version": "2",
        }));
        id
    }

    /// A number on the account, routed to `connection_id` if given; its id.
    pub fn add_number(&self, phone_number: &str, connection_id: Option<&str>) -> String {
        let mut a = self.account();
        a.next += 1;
        let id = format!("20000000000{:05}", a.next);
        let name = connection_id
            .and_then(|c| a.applications.iter().find(|x| x["id"] == c))
            .map(|x| x["application_name"].clone())
            .unwrap_or(Value::Null);
        a.numbers.push(json!({
            "id": id, "record_type": "phone_number", "phone_number": phone_number,
            "status": "active", "phone_number_type": "local", "country_iso_alpha2": "US",
            "connection_id": connection_id, "connection_name": name, "customer_reference": null,
            "tags": [], "purchased_at": "2026-01-01T00:00:00Z",
        }));
        id
    }

    /// A number for sale: `kind` is `local`, `mobile` or `toll_free`.
    pub fn add_available(&self, country: &str, kind: &str, phone_number: &str, needs_group: bool) {
        self.account().available.push(Available {
            country: country.into(),
            kind: kind.into(),
            phone_number: phone_number.into(),
            needs_group,
        });
    }

    /// Someone else buys `phone_number` before us.
    pub fn take_available(&self, phone_number: &str) {
        self.account()
            .available
            .retain(|a| a.phone_number != phone_number);
    }

    /// A requirement group of the account (`status`: `approved`, `pending-approval`, …); its id.
    pub fn add_requirement_group(
        &self,
        country: &str,
        kind: &str,
        reference: &str,
        status: &str,
        expires_at: &str,
    ) -> String {
        let mut a = self.account();
        a.next += 1;
        let id = format!("a4b201f9-8646-4e54-a7d2-{:012}", a.next);
        a.groups.push(json!({
            "id": id, "record_type": "requirement_group", "action": "ordering",
            "country_code": country, "phone_number_type": kind, "customer_reference": reference,
            "status": status, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "regulatory_requirements": [{
                "requirement_id": "2708e569-696a-4fc7-9305-5fdb3eb9c7dd", "field_type": "address",
                "field_value": "1 George St, Sydney", "status": status, "expires_at": expires_at,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            }],
        }));
        id
    }

    /// New orders stay pending for `reads` reads of them before they succeed (`usize::MAX`:
    /// for ever; the number is on the account meanwhile, `purchase-pending`).
    pub fn orders_pending_for(&self, reads: usize) {
        self.account().pending_reads = reads;
    }

    /// From now on, answers every request with this status and Telnyx error body.
    pub fn refuse(&self, status: u16, body: Value) {
        self.account().refusal = Some((StatusCode::from_u16(status).unwrap(), body));
    }

    pub fn accept(&self) {
        self.account().refusal = None;
    }

    /// The next `n` requests are recorded but never answered.
    pub fn stall_next(&self, n: usize) {
        self.account().stalls += n;
    }

    /// The next `n` requests are carried out but never answered: the client cannot know.
    pub fn act_then_stall_next(&self, n: usize) {
        self.account().act_stalls += n;
    }

    pub fn requests(&self) -> Vec<TelnyxRequest> {
        self.account().requests.clone()
    }

    /// How many requests of `method` went to `path` (query left out).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.split('?').next() == Some(path))
            .count()
    }

    pub fn orders(&self) -> Vec<Value> {
        self.account().orders.clone()
    }

    pub fn numbers(&self) -> Vec<Value> {
        self.account().numbers.clone()
    }

    pub fn applications(&self) -> Vec<Value> {
        self.account().applications.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.account().violations.clone()
    }
}

/// Records every request; then, past the key check, `refuse`, `stall_next` and
/// `act_then_stall_next` apply.
async fn faults(
    State(account): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    // Decided under the lock, acted on after it: a guard is never held across an await.
    enum Fault {
        None,
        Refuse(StatusCode, Value),
        Stall,
        ActThenStall,
    }
    let fault = {
        let mut a = account.lock().unwrap();
        a.requests.push(TelnyxRequest {
            method: parts.method.to_string(),
            path: parts.uri.to_string(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        let keyed = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {TELNYX_NUMBERS_KEY}"));
        if !keyed {
            Fault::None
        } else if let Some((status, body)) = a.refusal.clone() {
            Fault::Refuse(status, body)
        } else if a.stalls > 0 {
            a.stalls -= 1;
            Fault::Stall
        } else if a.act_stalls > 0 {
            a.act_stalls -= 1;
            Fault::ActThenStall
        } else {
            Fault::None
        }
    };
    let stall = match fault {
        Fault::Refuse(status, body) => return (status, axum::Json(body)).into_response(),
        Fault::Stall => return std::future::pending().await,
        Fault::ActThenStall => true,
        Fault::None => false,
    };
    let response = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    if stall {
        return std::future::pending().await;
    }
    response
}

/// The `key=value` pairs of a query.
fn pairs(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

const SEARCH_FILTERS: [&str; 15] = [
    "filter[country_code]",
    "filter[phone_number_type]",
    "filter[features]",
    "filter[phone_number][starts_with]",
    "filter[phone_number][ends_with]",
    "filter[phone_number][contains]",
    "filter[locality]",
    "filter[administrative_area]",
    "filter[national_destination_code]",
    "filter[rate_center]",
    "filter[limit]",
    "filter[best_effort]",
    "filter[quickship]",
    "filter[reservable]",
    "filter[exclude_held_numbers]",
];

/// §8.1: the filters it names only, with their values; the catalog's matches.
async fn search(State(account): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query);
    let q = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let problem = pairs.iter().find_map(|(k, v)| match k.as_str() {
        "filter[phone_number_type]"
            if !["local", "toll_free", "mobile", "national", "shared_cost"]
                .contains(&v.as_str()) =>
        {
            Some(format!("{k}={v}"))
        }
        "filter[features]"
            if !v.split(',').all(|f| {
                [
                    "sms",
                    "mms",
                    "voice",
                    "fax",
                    "emergency",
                    "hd_voice",
                    "international_sms",
                    "local_calling",
                ]
                .contains(&f)
            }) =>
        {
            Some(format!("{k}={v}"))
        }
        "filter[limit]" if !v.parse::<usize>().is_ok_and(|n| n >= 1) => Some(format!("{k}={v}")),
        k if SEARCH_FILTERS.contains(&k) => None,
        k => Some(format!("unknown parameter {k}")),
    });
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "GET /v2/available_phone_numbers", problem) {
        return refused;
    }
    let limit: usize = q("filter[limit]")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    let data: Vec<Value> = a
        .available
        .iter()
        .filter(|n| q("filter[country_code]").is_none_or(|c| c == n.country))
        .filter(|n| q("filter[phone_number_type]").is_none_or(|k| k == n.kind))
        .filter(|n| q("filter[phone_number][contains]").is_none_or(|d| n.phone_number.contains(d)))
        .filter(|n| {
            // The national destination code follows the country code: `+1 415 …`.
            q("filter[national_destination_code]").is_none_or(|ndc| n.phone_number[2..].starts_with(ndc))
        })
        .take(limit)
        .map(|n| {
            json!({
                "record_type": "available_phone_number", "phone_number": n.phone_number,
                "vanity_format": null, "best_effort": false, "quickship": true, "reservable": false,
                "cost_information": {"currency": "USD", "monthly_cost": "1.00", "upfront_cost": "1.50"},
                "features": [{"name": "voice"}, {"name": "sms"}],
                "region_information": [
                    {"region_name": n.country, "region_type": "country_code"},
                    {"region_name": "Sydney", "region_type": "location"},
                ],
            })
        })
        .collect();
    let meta = json!({"total_results": data.len(), "best_effort_results": 0});
    let body = json!({"data": data, "meta": meta, "metadata": meta});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// §8.2: fields it names only; each number must be for sale (else 85000), a requirement group
/// named must be approved for its country and kind. A number that needs a group and has none
/// is held; others are pending for `pending_reads` reads, on the account meanwhile.
async fn order(
    State(account): Shared,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let top = [
        "phone_numbers",
        "connection_id",
        "customer_reference",
        "billing_group_id",
        "messaging_profile_id",
    ];
    let each = ["phone_number", "bundle_id", "requirement_group_id"];
    let problem = match (body.as_object(), body["phone_numbers"].as_array()) {
        (None, _) => Some("the body is not an object".to_owned()),
        (Some(o), _) if o.keys().any(|k| !top.contains(&k.as_str())) => {
            Some(format!("unknown field in {o:?}"))
        }
        (_, None) => Some("phone_numbers is required".to_owned()),
        (_, Some(list)) => list.iter().find_map(|n| match n.as_object() {
            Some(o) if o.keys().any(|k| !each.contains(&k.as_str())) => {
                Some(format!("unknown field in {o:?}"))
            }
            Some(o) if !o.get("phone_number").is_some_and(Value::is_string) => {
                Some("phone_numbers[].phone_number is required".to_owned())
            }
            Some(_) => None,
            None => Some("phone_numbers[] must be objects".to_owned()),
        }),
    };
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "POST /v2/number_orders", problem) {
        return refused;
    }
    let connection = body["connection_id"].as_str().map(str::to_owned);
    if let Some(c) = &connection
        && !a.applications.iter().any(|x| x["id"] == c.as_str())
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid connection",
            "No connection with that id",
        );
    }
    let mut entries = Vec::new();
    for n in body["phone_numbers"].as_array().unwrap() {
        let e164 = n["phone_number"].as_str().unwrap();
        let Some(offer) = a.available.iter().find(|x| x.phone_number == e164).cloned() else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "85000",
                "Must search phone number via search API first",
                "The phone number is not available for purchase: search for it first.",
            );
        };
        let group = n["requirement_group_id"].as_str();
        if let Some(g) = group {
            let fits = a.groups.iter().any(|x| {
                x["id"] == g
                    && x["status"] == "approved"
                    && x["country_code"] == offer.country.as_str()
                    && x["phone_number_type"] == offer.kind.as_str()
            });
            if !fits {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "10015",
                    "Invalid requirement group",
                    "The requirement group is not approved for this country and number type.",
                );
            }
        }
        entries.push((offer, group.map(str::to_owned)));
    }
    a.next += 1;
    let id = format!("f826ed66-b27c-4340-9dc0-{:012}", a.next);
    let pending = a.pending_reads;
    let mut numbers = Vec::new();
    let mut held = false;
    for (offer, group) in entries {
        let needs = offer.needs_group && group.is_none();
        held |= needs;
        a.available.retain(|x| x.phone_number != offer.phone_number);
        if !needs {
            a.next += 1;
            let nid = format!("20000000000{:05}", a.next);
            let name = connection
                .as_deref()
                .and_then(|c| a.applications.iter().find(|x| x["id"] == c))
                .map(|x| x["application_name"].clone())
                .unwrap_or(Value::Null);
            a.numbers.push(json!({
                "id": nid, "record_type": "phone_number", "phone_number": offer.phone_number,
                "status": if pending == 0 { "active" } else { "purchase-pending" },
                "phone_number_type": offer.kind, "country_iso_alpha2": offer.country,
                "connection_id": connection, "connection_name": name,
                "customer_reference": body["customer_reference"], "tags": [],
                "purchased_at": "2026-12-05T00:00:00Z",
            }));
        }
        numbers.push(json!({
            "id": format!("613d517a-0432-4bae-a785-{:012}", a.next), "record_type": "number_order_phone_number",
            "phone_number": offer.phone_number, "phone_number_type": offer.kind,
            "country_code": offer.country, "status": if pending == 0 && !needs { "success" } else { "pending" },
            "requirements_met": !needs,
            "requirements_status": if needs { "requirement-info-pending" } else { "approved" },
            "regulatory_requirements": [], "bundle_id": null, "requirement_group_id": group,
        }));
    }
    let status = if pending == 0 && !held {
        "success"
    } else {
        "pending"
    };
    let order = json!({
        "id": id, "record_type": "number_order", "status": status,
        "phone_numbers_count": numbers.len(), "requirements_met": !held,
        "connection_id": connection, "customer_reference": body["customer_reference"],
        "billing_group_id": null, "messaging_profile_id": null, "sub_number_orders_ids": [],
        "created_at": "2026-12-05T00:00:00Z", "updated_at": "2026-12-05T00:00:00Z",
        "phone_numbers": numbers, "reads_left": pending,
    });
    a.orders.push(order.clone());
    (StatusCode::OK, axum::Json(json!({"data": shown(&order)}))).into_response()
}

/// An order as Telnyx shows it (without the simulator's own count).
fn shown(order: &Value) -> Value {
    let mut o = order.clone();
    o.as_object_mut().unwrap().remove("reads_left");
    o
}

/// An order; each read of a pending one counts down to its success (held ones stay).
async fn read_order(
    State(account): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "GET /v2/number_orders/{id}", None) {
        return refused;
    }
    let Some(i) = a.orders.iter().position(|o| o["id"] == id.as_str()) else {
        return error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            "No such order",
        );
    };
    let held = a.orders[i]["requirements_met"] == false;
    let left = a.orders[i]["reads_left"].as_u64().unwrap_or(0) as usize;
    if !held && a.orders[i]["status"] == "pending" && left != usize::MAX {
        let left = left.saturating_sub(1);
        a.orders[i]["reads_left"] = json!(left);
        if left == 0 {
            a.orders[i]["status"] = json!("success");
            let bought: Vec<String> = a.orders[i]["phone_numbers"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .map(|n| {
                    n["status"] = json!("success");
                    n["phone_number"].as_str().unwrap().to_owned()
                })
                .collect();
            for n in a
                .numbers
                .iter_mut()
                .filter(|n| bought.iter().any(|b| n["phone_number"] == b.as_str()))
            {
                n["status"] = json!("active");
            }
        }
    }
    (
        StatusCode::OK,
        axum::Json(json!({"data": shown(&a.orders[i])})),
    )
        .into_response()
}

/// §8.5's list: a bare array, filtered by the filters it names.
async fn groups(State(account): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query);
    let known = [
        "country_code",
        "phone_number_type",
        "action",
        "status",
        "customer_reference",
    ];
    let problem = pairs.iter().find_map(|(k, _)| {
        let inner = k.strip_prefix("filter[").and_then(|r| r.strip_suffix(']'));
        (!inner.is_some_and(|i| known.contains(&i))).then(|| format!("unknown parameter {k}"))
    });
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "GET /v2/requirement_groups", problem) {
        return refused;
    }
    let list: Vec<Value> = a
        .groups
        .iter()
        .filter(|g| {
            pairs.iter().all(|(k, v)| {
                let field = &k["filter[".len()..k.len() - 1];
                g[field] == v.as_str()
            })
        })
        .cloned()
        .collect();
    (StatusCode::OK, axum::Json(Value::Array(list))).into_response()
}

fn error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let body = json!({"errors": [{"code": code, "title": title, "detail": detail}]});
    (status, axum::Json(body)).into_response()
}

/// The key, then anything outside the section: refused (and recorded) as Telnyx would.
fn admit(
    a: &mut Account,
    headers: &HeaderMap,
    what: &str,
    problem: Option<String>,
) -> Option<Response> {
    let key = headers.get("authorization").and_then(|v| v.to_str().ok());
    if key != Some(&format!("Bearer {TELNYX_NUMBERS_KEY}")) {
        a.violations.push(format!("{what}: not authenticated"));
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "10009",
            "Authentication failed",
            "The API key is invalid.",
        ));
    }
    let problem = problem?;
    a.violations.push(format!("{what}: {problem}"));
    Some(error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "10015",
        "Bad Request",
        &problem,
    ))
}

/// §8.3's list: its filters, `page[number]`, `page[size]` (1-250) and `sort` only.
async fn list(State(account): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let q = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let problem = pairs.iter().find_map(|(k, v)| match k.as_str() {
        "page[number]" if !v.parse::<usize>().is_ok_and(|n| n >= 1) => Some(format!("{k}={v}")),
        "page[size]" if !v.parse::<usize>().is_ok_and(|n| (1..=250).contains(&n)) => {
            Some(format!("{k}={v}"))
        }
        "page[number]" | "page[size]" | "sort" => None,
        k if k.starts_with("filter[") => None,
        k => Some(format!("unknown parameter {k}")),
    });
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "GET /v2/phone_numbers", problem) {
        return refused;
    }
    let asked: usize = q("page[size]").and_then(|s| s.parse().ok()).unwrap_or(20);
    let size = if a.page_cap > 0 {
        asked.min(a.page_cap)
    } else {
        asked
    };
    let page: usize = q("page[number]").and_then(|s| s.parse().ok()).unwrap_or(1);
    let matching: Vec<&Value> = a
        .numbers
        .iter()
        .filter(|n| q("filter[phone_number]").is_none_or(|p| n["phone_number"] == p))
        .collect();
    let total = matching.len();
    let start = ((page - 1) * size).min(total);
    let data = &matching[start..(start + size).min(total)];
    let body = json!({"data": data, "meta": {
        "total_pages": total.div_ceil(size).max(1), "total_results": total,
        "page_number": page, "page_size": size,
    }});
    (StatusCode::OK, axum::Json(body)).into_response()
}

const UPDATE_FIELDS: [&str; 7] = [
    "connection_id",
    "tags",
    "customer_reference",
    "billing_group_id",
    "address_id",
    "external_pin",
    "hd_voice_enabled",
];

/// §8.3's update; `connection_id` must name an application of the account.
async fn update(
    State(account): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut a = account.lock().unwrap();
    let problem = match body.as_object() {
        None => Some("the body is not an object".to_owned()),
        Some(o) => o
            .keys()
            .find(|k| !UPDATE_FIELDS.contains(&k.as_str()))
            .map(|k| format!("unknown field {k}")),
    };
    if let Some(refused) = admit(&mut a, &headers, "PATCH /v2/phone_numbers/{id}", problem) {
        return refused;
    }
    let connection = body["connection_id"].as_str().map(str::to_owned);
    let name = match &connection {
        Some(c) => match a.applications.iter().find(|x| x["id"] == c.as_str()) {
            Some(app) => app["application_name"].clone(),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "10015",
                    "Invalid connection",
                    "No connection with that id",
                );
            }
        },
        None => Value::Null,
    };
    let Some(number) = a.numbers.iter_mut().find(|n| n["id"] == id.as_str()) else {
        return error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            "No such number",
        );
    };
    if let Some(c) = connection {
        number["connection_id"] = json!(c);
        number["connection_name"] = name;
    }
    (StatusCode::OK, axum::Json(json!({"data": number}))).into_response()
}

async fn release(State(account): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(&mut a, &headers, "DELETE /v2/phone_numbers/{id}", None) {
        return refused;
    }
    let Some(i) = a.numbers.iter().position(|n| n["id"] == id.as_str()) else {
        return error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            "No such number",
        );
    };
    let number = a.numbers.remove(i);
    (StatusCode::OK, axum::Json(json!({"data": number}))).into_response()
}

async fn application(
    State(account): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut a = account.lock().unwrap();
    if let Some(refused) = admit(
        &mut a,
        &headers,
        "GET /v2/call_control_applications/{id}",
        None,
    ) {
        return refused;
    }
    match a.applications.iter().find(|x| x["id"] == id.as_str()) {
        Some(app) => (StatusCode::OK, axum::Json(json!({"data": app}))).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            "No such application",
        ),
    }
}

/// §8.4: `application_name` and an https `webhook_event_url` are required even on update.
async fn update_application(
    State(account): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut a = account.lock().unwrap();
    let problem = if body["application_name"].as_str().is_none_or(str::is_empty) {
        Some("application_name is required".to_owned())
    } else if !body["webhook_event_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://"))
    {
        Some("webhook_event_url must be an https URL".to_owned())
    } else {
        None
    };
    if let Some(refused) = admit(
        &mut a,
        &headers,
        "PATCH /v2/call_control_applications/{id}",
        problem,
    ) {
        return refused;
    }
    let Some(app) = a.applications.iter_mut().find(|x| x["id"] == id.as_str()) else {
        return error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            "No such application",
        );
    };
    if let (Some(app), Some(body)) = (app.as_object_mut(), body.as_object()) {
        app.extend(body.clone());
    }
    (StatusCode::OK, axum::Json(json!({"data": app}))).into_response()
}
