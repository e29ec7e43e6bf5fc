//! The instructions a voice backend is given: the agent's system prompt and, on a campaign's
//! calls, the campaign's prompt, with the call's placeholders filled in, then the agent's and
//! the call's context as readable facts. Built
//! here once for every backend, so a live context edit reads the same as the first prompt.

use serde_json::{Map, Value};

/// The call context's key for an operator's whispered notes (a list of texts): the agent
/// is told them apart from the call's facts, as private directions.
pub const OPERATOR_NOTES: &str = "operator_notes";

/// Placeholders the prompt may use, filled from the call's context (a contact's details).
const PLACEHOLDERS: [&str; 3] = ["name", "email", "phone"];

/// `system_prompt`, then `campaign_prompt` when there is one, with `{name}`, `{email}`,
/// `{phone}` from `call_context` (left as written when the call has no such value), followed
/// by the agent's context and the call's.
pub fn render(
    system_prompt: &str,
    campaign_prompt: &str,
    agent_context: &Map<String, Value>,
    call_context: &Map<String, Value>,
) -> String {
    let mut out = system_prompt.to_owned();
    if !campaign_prompt.trim().is_empty() {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(campaign_prompt.trim());
    }
    let mut out = fill_placeholders(&out, call_context);
    let mut facts = call_context.clone();
    let notes = facts.remove(OPERATOR_NOTES);
    for (title, context) in [("Facts to use", agent_context), ("About this call", &facts)] {
        if context.is_empty() {
            continue;
        }
        out.push_str("\n\n");
        out.push_str(title);
        out.push(':');
        write_map(&mut out, context, 0);
    }
    let notes: Vec<String> = match notes {
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(other) => scalar(&other).into_iter().collect(),
        None => Vec::new(),
    };
    if !notes.is_empty() {
        out.push_str(
            "\n\nNotes from your operator, who is following this call (private: act on them, \
             never read them out or mention them to the caller):",
        );
        for note in notes {
            out.push_str("\n- ");
            out.push_str(&note);
        }
    }
    out
}

/// `text` with `{name}`, `{email}`, `{phone}` filled from `call_context` (each left as
/// written when the call has no such value): for a prompt handed to an agent that is not
/// Switchboard's to brief, such as a dispatched LiveKit worker.
pub fn fill_placeholders(text: &str, call_context: &Map<String, Value>) -> String {
    let mut out = text.to_owned();
    for key in PLACEHOLDERS {
        if let Some(value) = call_context.get(key).and_then(scalar) {
            out = out.replace(&format!("{{{key}}}"), &value);
        }
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Keys become readable labels (`opening_hours` → "opening hours"); nesting indents.
fn write_map(out: &mut String, map: &Map<String, Value>, depth: usize) {
    for (key, value) in map {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
        out.push_str("- ");
        out.push_str(&key.replace('_', " "));
        write_value(out, value, depth);
    }
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(m) => {
            out.push(':');
            write_map(out, m, depth + 1);
        }
        Value::Array(items) if items.iter().all(|i| scalar(i).is_some()) => {
            let list: Vec<String> = items.iter().filter_map(scalar).collect();
            out.push_str(": ");
            out.push_str(&list.join(", "));
        }
        Value::Array(items) => {
            out.push(':');
            for item in items {
                out.push('\n');
                out.push_str(&"  ".repeat(depth + 1));
                out.push('-');
                match item {
                    Value::Object(m) => write_map(out, m, depth + 2),
                    other => {
                        out.push(' ');
                        out.push_str(&scalar(other).unwrap_or_else(|| other.to_string()));
                    }
                }
            }
        }
        Value::Null => out.push_str(": (none)"),
        other => {
            out.push_str(": ");
            out.push_str(&scalar(other).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn placeholders_take_the_call_context_and_unknown_ones_stay() {
        let text = render(
            "Hello {name}, we have {email} and {phone}. {other}",
            "",
            &Map::new(),
            &map(json!({"name": "Ada", "phone": "+14155550100"})),
        );
        assert!(
            text.starts_with("Hello Ada, we have {email} and +14155550100. {other}"),
            "{text}"
        );
    }

    #[test]
    fn operator_notes_are_private_directions_not_facts() {
        let text = render(
            "You answer for Acme.",
            "",
            &Map::new(),
            &map(json!({"name": "Ada", OPERATOR_NOTES: ["Offer the 10% discount.", "Be brief."]})),
        );
        let (facts, notes) = text.split_once("Notes from your operator").unwrap();
        assert!(
            facts.contains("- name: Ada") && !facts.contains("operator"),
            "{text}"
        );
        assert!(notes.contains("never read them out"), "{text}");
        assert!(
            notes.ends_with("\n- Offer the 10% discount.\n- Be brief."),
            "{text}"
        );
    }

    #[test]
    fn context_is_rendered_as_readable_facts() {
        let text = render(
            "You answer for Acme.",
            "",
            &map(json!({
                "opening_hours": {"weekdays": "9-17", "saturday": null},
                "services": ["boilers", "pipes"],
                "staff": [{"name": "Bo", "role": "plumber"}],
                "emergency": true
            })),
            &map(json!({"name": "Ada"})),
        );
        assert_eq!(
            text,
            "You answer for Acme.\n\nFacts to use:\n- emergency: true\n- opening hours:\n  \
             - saturday: (none)\n  - weekdays: 9-17\n- services: boilers, pipes\n- staff:\n  -\n    \
             - name: Bo\n    - role: plumber\n\nAbout this call:\n- name: Ada"
        );
    }

    #[test]
    fn no_context_leaves_the_prompt_alone() {
        assert_eq!(
            render("Just this.", "", &Map::new(), &Map::new()),
            "Just this."
        );
    }

    #[test]
    fn a_campaign_prompt_follows_the_agents_with_the_leads_details() {
        let text = render(
            "You call for Acme.",
            "Offer {name} a free roof survey.",
            &Map::new(),
            &Map::new(),
        );
        assert_eq!(
            text,
            "You call for Acme.\n\nOffer {name} a free roof survey."
        );
        let text = render(
            "You call for Acme.",
            "Offer {name} a free roof survey.",
            &Map::new(),
            &map(json!({"name": "Ada"})),
        );
        assert!(
            text.starts_with("You call for Acme.\n\nOffer Ada a free roof survey."),
            "{text}"
        );
    }
}
