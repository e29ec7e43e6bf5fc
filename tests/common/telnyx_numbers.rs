//! Telnyx's numbers API on loopback (protocols/telnyx.md §8.3, §8.4): the account's phone
//! numbers (listed in pages, routed to a connection, released) and its Call Control
//! applications (read, and updated with the two fields Telnyx requires). A request outside
//! those sections (an unknown query or body field, a missing required one, a bad page size,
//! a wrong key) is refused as Telnyx would and kept in `violations()`.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const TELNYX_NUMBERS_KEY: &str = "KEY-telnyx-numbers-test";

#[derive(Default)]
struct Account {
    numbers: Vec<Value>,
    applications: Vec<Value>,
    violations: Vec<String>,
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
            .route("/v2/phone_numbers", get(list))
            .route(
                "/v2/phone_numbers/{id}",
                axum::routing::patch(update).delete(release),
            )
            .route(
                "/v2/call_control_applications/{id}",
                get(application).patch(update_application),
            )
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
    let total = a.numbers.len();
    let start = ((page - 1) * size).min(total);
    let data = &a.numbers[start..(start + size).min(total)];
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
