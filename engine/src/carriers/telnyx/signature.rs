//! Telnyx webhook signatures: Ed25519 over `"{telnyx-timestamp}|{raw body}"` with the
//! account's public key, and a timestamp no more than five minutes from now
//! (protocols/telnyx.md §2.3).

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};

/// How far a webhook's timestamp may be from our clock.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no telnyx-signature-ed25519 or telnyx-timestamp header")]
    Missing,
    #[error("telnyx-timestamp is not a number")]
    BadTimestamp,
    #[error("telnyx-timestamp is {0} s away from now (at most 300 s allowed)")]
    Stale(i64),
    #[error("the signature is not 64 bytes of base64")]
    BadSignature,
    #[error("the configured Telnyx public key is not 32 bytes of base64")]
    BadKey,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a webhook. `now_secs` is injected so tests can check the window.
pub fn verify(
    public_key_b64: &str,
    timestamp: Option<&str>,
    signature_b64: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature_b64)) = (timestamp, signature_b64) else {
        return Err(SignatureError::Missing);
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = (now_secs - sent).abs();
    if skew > TOLERANCE_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = b64
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(SignatureError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::BadKey)?;
    let signature: [u8; 64] = b64
        .decode(signature_b64.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(SignatureError::BadSignature)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.verify_strict(&message, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked vector of protocols/telnyx.md §2.3 (RFC 8032 test key 1).
    const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const BODY: &str = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","payload":{"call_control_id":"v3:abc","direction":"incoming"},"record_type":"event"}}"#;
    const SIG: &str =
        "mBn3LJ6okQke5Hp/uKbmInTB1XGY87hZ7QsUQRfpTqPwz3qWsB7c837Jm4RkyXo0duORzswWTEv3NrdgPIggDw==";
    const TS: i64 = 1_700_000_000;

    #[test]
    fn accepts_the_reference_vector_inside_the_window() {
        assert_eq!(
            verify(
                KEY,
                Some("1700000000"),
                Some(SIG),
                BODY.as_bytes(),
                TS + 299
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                KEY,
                Some("1700000000"),
                Some(SIG),
                BODY.as_bytes(),
                TS - 300
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_stale_tampered_missing_and_garbled() {
        let body = BODY.as_bytes();
        assert_eq!(
            verify(KEY, Some("1700000000"), Some(SIG), body, TS + 301),
            Err(SignatureError::Stale(301))
        );
        let tampered = BODY.replace("incoming", "outgoing");
        assert_eq!(
            verify(KEY, Some("1700000000"), Some(SIG), tampered.as_bytes(), TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(KEY, Some("1700000001"), Some(SIG), body, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(KEY, None, Some(SIG), body, TS),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(KEY, Some("1700000000"), None, body, TS),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(KEY, Some("soon"), Some(SIG), body, TS),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(KEY, Some("1700000000"), Some("AAAA"), body, TS),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            verify("c2hvcnQ=", Some("1700000000"), Some(SIG), body, TS),
            Err(SignatureError::BadKey)
        );
    }
}
