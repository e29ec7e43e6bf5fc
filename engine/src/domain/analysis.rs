//! Post-call analysis (issue 16): what an agent asks of each answered call (a summary, whether
//! its goal was met, the caller's sentiment, custom fields), the strict JSON Schema made from
//! that for the model, and the analysis stored on a call. Pure: the schema is built and an
//! answer read here; the worker in `analysis/` only sends and stores.
//!
//! Invariants: a custom field's name is snake_case and unique; a `one_of` field has options;
//! the schema has every property required and `additionalProperties: false` at every object,
//! optional values written as `["type", "null"]` (OpenAI's strict mode, protocols §5).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::input::{Invalid, bounded_text, required_text};
use super::time::Timestamp;

pub const DEFAULT_ANALYSIS_MODEL: &str = "gpt-4.1-mini";
pub const MAX_FIELDS: usize = 20;
const GOAL_MAX: usize = 1_000;
const MODEL_MAX: usize = 100;
const FIELD_NAME_MAX: usize = 64;
const FIELD_DESCRIPTION_MAX: usize = 500;
const MAX_OPTIONS: usize = 20;
const OPTION_MAX: usize = 100;
/// The name the schema is sent under (`a-z A-Z 0-9 _ -`, at most 64).
pub const SCHEMA_NAME: &str = "call_analysis";

/// What kind of value a custom field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    /// true or false.
    YesNo,
    /// One of the field's `options`.
    OneOf,
}

/// A value the user wants read from each call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisField {
    /// snake_case, unique among the agent's fields (`caller_name`, `budget`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z][a-z0-9_]*$")]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// What the model should put there.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// The allowed values of a `one_of` field (ignored for the others).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub options: Vec<String>,
}

/// An agent's post-call analysis settings, as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AnalysisSettings {
    /// Analyse each answered call of this agent after it ends.
    pub enabled: bool,
    /// What a successful call achieves, in a sentence ("the caller books a visit").
    pub goal: String,
    /// The OpenAI model that reads the transcript.
    pub model: String,
    pub fields: Vec<AnalysisField>,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            goal: String::new(),
            model: DEFAULT_ANALYSIS_MODEL.into(),
            fields: Vec::new(),
        }
    }
}

/// An update of the analysis settings: fields left out keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisInput {
    pub enabled: Option<bool>,
    #[schema(max_length = 1000)]
    pub goal: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub model: Option<String>,
    /// Replaces the list.
    #[schema(max_items = 20)]
    pub fields: Option<Vec<AnalysisField>>,
}

fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl AnalysisInput {
    pub fn apply(self, mut base: AnalysisSettings) -> Result<AnalysisSettings, Invalid> {
        if let Some(v) = self.enabled {
            base.enabled = v;
        }
        if let Some(v) = self.goal {
            base.goal = bounded_text("analysis.goal", &v, GOAL_MAX)?
                .trim()
                .to_owned();
        }
        if let Some(v) = self.model {
            base.model = required_text("analysis.model", &v, MODEL_MAX)?;
        }
        if let Some(v) = self.fields {
            base.fields = validate_fields(v)?;
        }
        Ok(base)
    }
}

/// Checks custom fields; an error names the field (its position and name) and the rule.
pub fn validate_fields(fields: Vec<AnalysisField>) -> Result<Vec<AnalysisField>, Invalid> {
    const F: &str = "analysis.fields";
    if fields.len() > MAX_FIELDS {
        return Err(Invalid::new(F, format!("at most {MAX_FIELDS} fields")));
    }
    let mut out: Vec<AnalysisField> = Vec::with_capacity(fields.len());
    for (i, f) in fields.into_iter().enumerate() {
        let name = f.name.trim().to_owned();
        let which = format!("field {} ({name:?})", i + 1);
        if name.is_empty() || name.len() > FIELD_NAME_MAX || !is_snake_case(&name) {
            return Err(Invalid::new(
                F,
                format!(
                    "{which}: a name is 1 to {FIELD_NAME_MAX} characters in snake_case \
                     (lower-case letters, digits and _, starting with a letter)"
                ),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(Invalid::new(
                F,
                format!("{which}: another field is already named {name}"),
            ));
        }
        let description = bounded_text(F, &f.description, FIELD_DESCRIPTION_MAX)
            .map_err(|_| {
                Invalid::new(
                    F,
                    format!("{which}: a description is at most {FIELD_DESCRIPTION_MAX} characters"),
                )
            })?
            .trim()
            .to_owned();
        let options = if f.kind == FieldType::OneOf {
            let options: Vec<String> = f
                .options
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            if options.is_empty() {
                return Err(Invalid::new(
                    F,
                    format!("{which}: a one_of field needs at least one option"),
                ));
            }
            if options.len() > MAX_OPTIONS || options.iter().any(|o| o.chars().count() > OPTION_MAX)
            {
                return Err(Invalid::new(
                    F,
                    format!(
                        "{which}: at most {MAX_OPTIONS} options of at most {OPTION_MAX} characters"
                    ),
                ));
            }
            let mut seen = options.clone();
            seen.sort();
            seen.dedup();
            if seen.len() != options.len() {
                return Err(Invalid::new(
                    F,
                    format!("{which}: an option is listed twice"),
                ));
            }
            options
        } else {
            Vec::new()
        };
        out.push(AnalysisField {
            name,
            kind: f.kind,
            description,
            options,
        });
    }
    Ok(out)
}

/// The caller's mood over the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
}

impl Sentiment {
    pub const ALL: [Self; 3] = [Self::Positive, Self::Neutral, Self::Negative];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where a call's analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Being asked of the model now.
    Running,
    Done,
    /// Given up on; `error` says why.
    Failed,
    /// Nothing to analyse (an empty transcript).
    Skipped,
}

impl AnalysisStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A call's analysis, as stored and returned with the call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallAnalysis {
    pub call_id: String,
    pub status: AnalysisStatus,
    pub summary: Option<String>,
    /// Whether the call met the agent's goal; `null` when the transcript cannot tell.
    pub goal_met: Option<bool>,
    pub sentiment: Option<Sentiment>,
    /// The agent's custom fields by name (`null` where the call did not say).
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, Value>,
    /// Why the last attempt failed, or why it was skipped.
    pub error: Option<String>,
    pub attempts: u32,
    /// When a pending analysis is tried next.
    pub next_attempt_at: Option<Timestamp>,
    pub analyzed_at: Option<Timestamp>,
    /// The model that answered.
    pub model: Option<String>,
}

/// What the model said, read from an answer that passed the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOutput {
    pub summary: String,
    pub goal_met: Option<bool>,
    pub sentiment: Sentiment,
    pub fields: serde_json::Map<String, Value>,
}

fn nullable(kind: &str) -> Value {
    json!([kind, "null"])
}

/// The strict JSON Schema the model must answer with, made from `settings`' fields.
pub fn json_schema(settings: &AnalysisSettings) -> Value {
    let mut properties = serde_json::Map::new();
    for f in &settings.fields {
        let mut p = match f.kind {
            FieldType::Text => json!({"type": nullable("string")}),
            FieldType::Number => json!({"type": nullable("number")}),
            FieldType::YesNo => json!({"type": nullable("boolean")}),
            FieldType::OneOf => {
                let mut options: Vec<Value> =
                    f.options.iter().map(|o| Value::from(o.as_str())).collect();
                options.push(Value::Null);
                json!({"type": nullable("string"), "enum": options})
            }
        };
        if !f.description.is_empty() {
            p["description"] = f.description.clone().into();
        }
        properties.insert(f.name.clone(), p);
    }
    let required: Vec<&str> = settings.fields.iter().map(|f| f.name.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "summary": {"type": "string", "description": "What happened on the call, in two to four sentences."},
            "goal_met": {"type": nullable("boolean"), "description": "Whether the call met the goal; null when there is no goal or the transcript cannot tell."},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"], "description": "The caller's sentiment over the call."},
            "fields": {
                "type": "object",
                "additionalProperties": false,
                "properties": properties,
                "required": required,
            },
        },
        "required": ["summary", "goal_met", "sentiment", "fields"],
    })
}

/// The instructions the model is given.
pub fn instructions(settings: &AnalysisSettings) -> String {
    let goal = if settings.goal.is_empty() {
        "The agent has no stated goal: set goal_met to null.".to_owned()
    } else {
        format!("The agent's goal: {}", settings.goal)
    };
    format!(
        "You analyse a finished phone call between an AI agent and a caller. Use only facts \
         from the transcript; where it does not say, answer null. {goal}"
    )
}

/// Reads an answer that has passed [`json_schema`]'s validation.
pub fn read_output(value: &Value) -> Option<AnalysisOutput> {
    Some(AnalysisOutput {
        summary: value["summary"].as_str()?.trim().to_owned(),
        goal_met: value["goal_met"].as_bool(),
        sentiment: Sentiment::parse(value["sentiment"].as_str()?)?,
        fields: value["fields"].as_object()?.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: Value) -> AnalysisField {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fields_are_checked_and_the_broken_one_named() {
        let ok = validate_fields(vec![
            field(json!({"name": "caller_name", "type": "text"})),
            field(json!({"name": "urgency", "type": "one_of", "options": ["low", " high "]})),
        ])
        .unwrap();
        assert_eq!(ok[1].options, ["low", "high"]);
        for (bad, says) in [
            (json!([{"name": "Caller", "type": "text"}]), "\"Caller\""),
            (json!([{"name": "a-b", "type": "text"}]), "snake_case"),
            (
                json!([{"name": "a", "type": "text"}, {"name": "a", "type": "number"}]),
                "already named a",
            ),
            (
                json!([{"name": "kind", "type": "one_of", "options": [" "]}]),
                "\"kind\"",
            ),
            (
                json!([{"name": "kind", "type": "one_of", "options": ["x", "x"]}]),
                "twice",
            ),
        ] {
            let fields: Vec<AnalysisField> = serde_json::from_value(bad).unwrap();
            let err = validate_fields(fields).unwrap_err();
            assert_eq!(err.field, "analysis.fields");
            assert!(err.message.contains(says), "{err}");
        }
        assert!(
            serde_json::from_value::<AnalysisField>(json!({"name": "a", "type": "date"})).is_err(),
            "an unknown type is not read"
        );
    }

    #[test]
    fn the_schema_is_strict_at_every_level_and_validates_answers() {
        let settings = AnalysisSettings {
            enabled: true,
            goal: "book a visit".into(),
            model: DEFAULT_ANALYSIS_MODEL.into(),
            fields: validate_fields(vec![
                field(json!({"name": "budget", "type": "number", "description": "in dollars"})),
                field(json!({"name": "urgent", "type": "yes_no"})),
                field(json!({"name": "kind", "type": "one_of", "options": ["leak", "install"]})),
            ])
            .unwrap(),
        };
        let schema = json_schema(&settings);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["fields"]["additionalProperties"],
            false
        );
        assert_eq!(
            schema["properties"]["fields"]["required"],
            json!(["budget", "urgent", "kind"])
        );
        assert_eq!(
            schema["properties"]["fields"]["properties"]["kind"]["enum"],
            json!(["leak", "install", null])
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        let good = json!({"summary": "s", "goal_met": true, "sentiment": "positive",
            "fields": {"budget": 120.5, "urgent": null, "kind": "leak"}});
        assert!(validator.is_valid(&good));
        let read = read_output(&good).unwrap();
        assert_eq!(read.sentiment, Sentiment::Positive);
        assert_eq!(read.goal_met, Some(true));
        for bad in [
            json!({"summary": "s", "goal_met": true, "sentiment": "happy",
                "fields": {"budget": 1, "urgent": null, "kind": "leak"}}),
            json!({"summary": "s", "goal_met": true, "sentiment": "positive",
                "fields": {"budget": 1, "urgent": null}}),
            json!({"summary": "s", "goal_met": true, "sentiment": "positive",
                "fields": {"budget": 1, "urgent": null, "kind": "other"}}),
            json!({"summary": "s", "goal_met": true, "sentiment": "positive", "extra": 1,
                "fields": {"budget": 1, "urgent": null, "kind": "leak"}}),
        ] {
            assert!(!validator.is_valid(&bad), "{bad}");
        }
    }
}
