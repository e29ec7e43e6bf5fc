//! `x-retell-signature` (protocols/retell.md §8.1, §15): `v={timestamp_ms},d={hex}` where the
//! digest is HMAC-SHA256 keyed by the Retell API key over the raw body followed by the
//! timestamp's digits, and the timestamp is within five minutes of now. Exactly what Retell's
//! SDK `verify` does; pure, so it is tested with the SDK's own vector.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a delivery's timestamp may be from now, either way (equal is accepted).
const TOLERANCE_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no x-retell-signature header")]
    Missing,
    #[error("x-retell-signature is not v=<ms>,d=<64 lowercase hex>")]
    Malformed,
    #[error("x-retell-signature is more than five minutes from now")]
    Stale,
    #[error("x-retell-signature does not match the body")]
    Mismatch,
}

/// Checks `header` (absent: `None`) against `body` with `key`, at `now_ms`.
pub fn verify(key: &str, body: &[u8], header: Option<&str>, now_ms: i64) -> Result<(), Refusal> {
    let (timestamp, digest) = parse(header.ok_or(Refusal::Missing)?).ok_or(Refusal::Malformed)?;
    let stamp: i64 = timestamp.parse().map_err(|_| Refusal::Malformed)?;
    if (now_ms - stamp).abs() > TOLERANCE_MS {
        return Err(Refusal::Stale);
    }
    let expected = digest_of(key, body, timestamp);
    if crate::secrets::constant_time_eq(expected.as_bytes(), digest.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

/// The header Retell would send for `body` at `timestamp_ms` (for simulators and tests).
pub fn sign(key: &str, body: &[u8], timestamp_ms: i64) -> String {
    let timestamp = timestamp_ms.to_string();
    format!("v={timestamp},d={}", digest_of(key, body, &timestamp))
}

/// `^v=(\d+),d=([0-9a-f]{64})$`, the whole header.
fn parse(header: &str) -> Option<(&str, &str)> {
    let rest = header.strip_prefix("v=")?;
    let (timestamp, digest) = rest.split_once(",d=")?;
    let digits = !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit());
    let hex = digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (digits && hex).then_some((timestamp, digest))
}

fn digest_of(key: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event":"call_ended"}"#;
    const KEY: &str = "test-api-key";
    const AT: i64 = 1_700_000_000_000;
    const HEADER: &str =
        "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e";

    #[test]
    fn the_sdks_vector_verifies_and_signs_the_same() {
        assert_eq!(verify(KEY, BODY, Some(HEADER), AT), Ok(()));
        assert_eq!(sign(KEY, BODY, AT), HEADER);
    }

    #[test]
    fn five_minutes_either_way_and_no_more() {
        assert_eq!(verify(KEY, BODY, Some(HEADER), AT + TOLERANCE_MS), Ok(()));
        assert_eq!(verify(KEY, BODY, Some(HEADER), AT - TOLERANCE_MS), Ok(()));
        assert_eq!(
            verify(KEY, BODY, Some(HEADER), AT + TOLERANCE_MS + 1),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(verify(KEY, BODY, None, AT), Err(Refusal::Missing));
        assert_eq!(
            verify("other-key", BODY, Some(HEADER), AT),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(KEY, br#"{"event":"call_started"}"#, Some(HEADER), AT),
            Err(Refusal::Mismatch)
        );
        let upper = HEADER.replace("07024cabe", "07024CABE");
        for bad in [
            upper.as_str(),
            "v=1700000000000,d=07024cab",
            "d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
            &format!(" {HEADER}"),
            &format!("{HEADER},x=1"),
        ] {
            assert_eq!(
                verify(KEY, BODY, Some(bad), AT),
                Err(Refusal::Malformed),
                "{bad}"
            );
        }
    }
}
