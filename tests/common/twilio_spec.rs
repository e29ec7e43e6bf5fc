//! Twilio's official OpenAPI document for the 2010-04-01 REST API
//! (`tests/specs/twilio_api_v2010.json`, a copy of protocols/specs/) as the judge of every
//! request a Twilio simulator receives. A request passes when it is one of the document's
//! operations (its method on a path template matched segment by segment, literal segments
//! preferred over `{Param}` ones), carries every required path, query and form parameter, no
//! parameter the operation does not declare, each value of its declared type, enum, SID
//! pattern and length, and exactly one member of each `x-twilio.conditional` group (buying a
//! number: `PhoneNumber` or `AreaCode`; placing a call: `Url`, `Twiml` or `ApplicationSid`).
//! The document is read once per test binary.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const DOCUMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/specs/twilio_api_v2010.json"
);

/// The parsed document and its path templates.
pub struct Spec {
    doc: Value,
    routes: Vec<Route>,
}

struct Route {
    template: String,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    /// `{Name}` with any literal text around it, as in `{Sid}.json`.
    Param {
        prefix: String,
        name: String,
        suffix: String,
    },
}

/// The operation a valid request named.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub template: String,
    /// Path parameters by their name in the template (`AccountSid`, `Sid`, …), decoded.
    pub path: HashMap<String, String>,
}

/// Why a request is not a valid operation, answered as Twilio answers errors (§8).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// The same, for a test to read: the request, the operation if one matched, the problems.
    pub violation: String,
}

impl Refusal {
    pub fn response(&self) -> Response {
        error_response(self.status, self.code, &self.message)
    }
}

/// A Twilio error body (§8): `code`, `message`, `more_info`, `status`.
pub fn error_body(status: StatusCode, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    })
}

pub fn error_response(status: StatusCode, code: u32, message: &str) -> Response {
    (status, axum::Json(error_body(status, code, message))).into_response()
}

/// The document, read on first use.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(DOCUMENT)
            .unwrap_or_else(|e| panic!("reading Twilio's OpenAPI document {DOCUMENT}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
        let routes = doc["paths"]
            .as_object()
            .expect("the document has paths")
            .keys()
            .map(|t| Route {
                template: t.clone(),
                segments: t.split('/').map(segment).collect(),
            })
            .collect();
        Spec { doc, routes }
    })
}

fn segment(s: &str) -> Segment {
    match (s.find('{'), s.find('}')) {
        (Some(open), Some(close)) if open < close => Segment::Param {
            prefix: s[..open].to_owned(),
            name: s[open + 1..close].to_owned(),
            suffix: s[close + 1..].to_owned(),
        },
        _ => Segment::Literal(s.to_owned()),
    }
}

/// Percent-decoding of a path segment (sids are plain, but a test may send anything).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Spec {
    /// The template `path` matches (most literal segments winning), with its parameters.
    fn route(&self, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &Route, HashMap<String, String>)> = None;
        'routes: for route in &self.routes {
            if route.segments.len() != parts.len() {
                continue;
            }
            let mut params = HashMap::new();
            let mut literals = 0;
            for (seg, part) in route.segments.iter().zip(&parts) {
                match seg {
                    Segment::Literal(l) if l == part => literals += 1,
                    Segment::Literal(_) => continue 'routes,
                    Segment::Param {
                        prefix,
                        name,
                        suffix,
                    } => {
                        let Some(value) = part
                            .strip_prefix(prefix.as_str())
                            .and_then(|p| p.strip_suffix(suffix.as_str()))
                            .filter(|v| !v.is_empty())
                        else {
                            continue 'routes;
                        };
                        params.insert(name.clone(), decode(value));
                    }
                }
            }
            if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
                best = Some((literals, route, params));
            }
        }
        best.map(|(_, r, p)| (r, p))
    }

    /// A `$ref` to `#/components/schemas/…` resolved; anything else as it is.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// Checks one request. `query` and `form` are the decoded pairs, repeated keys repeated;
    /// `content_type` is the request's header, if any.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        form: &[(String, String)],
        content_type: Option<&str>,
    ) -> Result<Operation, Refusal> {
        let request = format!("{method} {path}");
        let Some((route, path_params)) = self.route(path) else {
            return Err(Refusal {
                status: StatusCode::NOT_FOUND,
                code: 20404,
                message: format!("The requested resource {path} was not found"),
                violation: format!("{request}: no such path in Twilio's OpenAPI document"),
            });
        };
        let item = &self.doc["paths"][&route.template];
        let op = &item[method.as_str().to_ascii_lowercase()];
        let Some(id) = op["operationId"].as_str() else {
            return Err(Refusal {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: 20004,
                message: "Method not allowed".into(),
                violation: format!("{request}: {} has no {method} operation", route.template),
            });
        };
        let mut problems = Vec::new();
        let params: &[Value] = op["parameters"].as_array().map_or(&[], Vec::as_slice);
        let declared = |place: &str| -> Vec<(&str, &Value)> {
            params
                .iter()
                .filter(|p| p["in"] == place)
                .map(|p| (p["name"].as_str().unwrap_or_default(), p))
                .collect()
        };
        for (name, p) in declared("path") {
            match path_params.get(name) {
                Some(v) => self.value(&format!("path {name}"), v, &p["schema"], &mut problems),
                None => problems.push(format!("path parameter {name} missing")),
            }
        }
        self.pairs("query", query, &declared("query"), &mut problems);
        let form_schema =
            &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        if !form.is_empty()
            && !content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            problems.push(format!(
                "a body of {} is not application/x-www-form-urlencoded",
                content_type.unwrap_or("no content type")
            ));
        }
        let properties: Vec<(&str, &Value)> = form_schema["properties"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        self.pairs("form", form, &properties, &mut problems);
        for required in form_schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !form.iter().any(|(k, _)| k == name) {
                problems.push(format!("required form parameter {name} missing"));
            }
        }
        for group in op["x-twilio"]["conditional"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let names: Vec<String> = group
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(pascal)
                .collect();
            let given = names
                .iter()
                .filter(|n| form.iter().chain(query).any(|(k, _)| k == *n))
                .count();
            if given != 1 {
                problems.push(format!(
                    "exactly one of {} is required, {given} given",
                    names.join("/")
                ));
            }
        }
        if problems.is_empty() {
            return Ok(Operation {
                id: id.to_owned(),
                template: route.template.clone(),
                path: path_params,
            });
        }
        Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            code: 20001,
            message: format!("Invalid request: {}", problems.join("; ")),
            violation: format!("{request} ({id}): {}", problems.join("; ")),
        })
    }

    /// Checks name/value pairs against the parameters declared for them.
    fn pairs(
        &self,
        place: &str,
        given: &[(String, String)],
        declared: &[(&str, &Value)],
        problems: &mut Vec<String>,
    ) {
        for (i, (name, value)) in given.iter().enumerate() {
            let Some((_, decl)) = declared.iter().find(|(n, _)| n == name) else {
                problems.push(format!("unknown {place} parameter {name}"));
                continue;
            };
            // A query parameter's declaration holds its schema; a form property is one.
            let schema = self.resolve(if place == "query" {
                &decl["schema"]
            } else {
                decl
            });
            if schema["type"] == "array" {
                let items = self.resolve(&schema["items"]);
                self.value(&format!("{place} {name}"), value, items, problems);
                continue;
            }
            if given[..i].iter().any(|(n, _)| n == name) {
                problems.push(format!("{place} parameter {name} given more than once"));
            }
            self.value(&format!("{place} {name}"), value, schema, problems);
        }
        if place == "query" {
            for (name, decl) in declared {
                if decl["required"] == true && !given.iter().any(|(n, _)| n == name) {
                    problems.push(format!("required query parameter {name} missing"));
                }
            }
        }
    }

    /// One value against its schema: type, enum, SID pattern, length.
    fn value(&self, what: &str, v: &str, schema: &Value, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let mut bad = |why: String| problems.push(format!("{what}={v:?}: {why}"));
        match schema["type"].as_str() {
            Some("integer") => match v.parse::<i64>() {
                Ok(n) => {
                    if let Some(min) = schema["minimum"].as_i64().filter(|m| n < *m) {
                        bad(format!("below the minimum {min}"));
                    }
                    if let Some(max) = schema["maximum"].as_i64().filter(|m| n > *m) {
                        bad(format!("above the maximum {max}"));
                    }
                }
                Err(_) => bad("not an integer".into()),
            },
            Some("number") if v.parse::<f64>().is_err() => bad("not a number".into()),
            Some("boolean") if !["true", "false", "True", "False"].contains(&v) => {
                bad("not a boolean".into())
            }
            _ => {}
        }
        if let Some(values) = schema["enum"].as_array()
            && !values.iter().any(|e| e == v)
        {
            let allowed: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
            bad(format!("not one of {}", allowed.join(", ")));
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && let Some(ok) = sid_pattern_matches(pattern, v)
            && !ok
        {
            bad(format!("does not match {pattern}"));
        }
        let len = v.chars().count() as u64;
        if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
            bad(format!("shorter than {min} characters"));
        }
        if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
            bad(format!("longer than {max} characters"));
        }
        match schema["format"].as_str() {
            Some("uri") if !v.is_empty() && url::Url::parse(v).is_err() => {
                bad("not an absolute URI".into())
            }
            Some("date") if v.parse::<jiff::civil::Date>().is_err() => {
                bad("not a YYYY-MM-DD date".into())
            }
            _ => {}
        }
    }
}

/// The document's SID patterns, `^XX[0-9a-fA-F]{32}$` or `^(XX|YY)[0-9a-fA-F]{32}$`:
/// whether `v` matches, or `None` for a pattern of another shape (not checked).
fn sid_pattern_matches(pattern: &str, v: &str) -> Option<bool> {
    let prefixes = pattern
        .strip_prefix('^')?
        .strip_suffix("[0-9a-fA-F]{32}$")?;
    let prefixes: Vec<&str> = match prefixes.strip_prefix('(') {
        Some(group) => group.strip_suffix(')')?.split('|').collect(),
        None => vec![prefixes],
    };
    if prefixes
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return None;
    }
    Some(prefixes.iter().any(|p| {
        v.strip_prefix(p)
            .is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()))
    }))
}

/// `phone_number` → `PhoneNumber`: `x-twilio.conditional` names parameters in snake case.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Where a simulator puts the violations the middleware finds.
pub type Violations = Arc<dyn Fn(String) + Send + Sync>;

/// Middleware for a simulator's router: checks each request against the document, and a
/// request that is not a valid operation is recorded and answered with Twilio's error instead
/// of reaching the simulator.
pub async fn enforce(State(record): State<Violations>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let query = pairs(parts.uri.query().unwrap_or_default());
    let form = pairs(std::str::from_utf8(&bytes).unwrap_or_default());
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if let Err(refusal) = spec().check(&parts.method, parts.uri.path(), &query, &form, content_type)
    {
        record(refusal.violation.clone());
        return refusal.response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// `a=1&b=2&b=3` decoded, in order.
pub fn pairs(encoded: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}
