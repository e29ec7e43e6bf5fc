//! What every input type shares: the error a broken rule is reported with, bounded text, and
//! optional fields that can also be cleared. Pure; used by the other domain files.

/// A value that failed a domain rule: which field, and what is wrong with it in words a user
/// can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims a required text field and bounds its length. The bound applies to the text as
/// sent, as the OpenAPI document's `maxLength` says (it cannot speak of trimming).
pub(crate) fn required_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, Invalid> {
    bounded_text(field, value, max_chars)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn bounded_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, Invalid> {
    if value.chars().count() > max_chars {
        return Err(Invalid::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Serde helper for optional fields that can also be cleared: a field sent as `null` becomes
/// `Some(None)` (clear it), one left out stays `None` (keep it). Use with `#[serde(default)]`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// For tests: the `maxLength` the OpenAPI document states for `field` of `T`'s schema (a
/// property of `T`, or of one of its `oneOf` variants).
#[cfg(test)]
pub(crate) fn documented_max_length<T: utoipa::PartialSchema>(field: &str) -> usize {
    let schema = serde_json::to_value(T::schema()).expect("schemas serialise");
    let variants = schema["oneOf"].as_array().cloned().unwrap_or_default();
    std::iter::once(&schema)
        .chain(variants.iter())
        .find_map(|s| s["properties"][field]["maxLength"].as_u64())
        .unwrap_or_else(|| panic!("the document states no maxLength for {field}: {schema}"))
        as usize
}
