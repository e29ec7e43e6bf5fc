//! `X-Twilio-Signature`: HMAC-SHA1 over the public URL Twilio requested followed by the form
//! parameters sorted by name (each name once, its values sorted), keyed with the auth token,
//! base64. Twilio may sign with or without the default port, so both forms are accepted.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::secrets::constant_time_eq;

/// The signature Twilio would send for `url` and `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is Twilio's signature for this request, checking the URL both without
/// and with its scheme's default port. Comparison is constant-time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], presented: &str) -> bool {
    port_variants(url)
        .iter()
        .any(|u| constant_time_eq(sign(auth_token, u, params).as_bytes(), presented.as_bytes()))
}

fn port_variants(url: &str) -> Vec<String> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return vec![url.to_owned()];
    };
    let mut out = vec![url.to_owned()];
    let default = parsed.port_or_known_default();
    if parsed.port().is_some() {
        let _ = parsed.set_port(None);
        out.push(parsed.to_string());
    } else if let Some(port) = default {
        // `Url` hides default ports when printing, so splice it in by hand.
        let host = parsed.host_str().unwrap_or_default().to_owned();
        out.push(url.replacen(&host, &format!("{host}:{port}"), 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from twilio-python's tests/unit/test_request_validator.py (protocols/twilio.md §2).
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn matches_the_sdk_vector() {
        assert_eq!(
            sign("12345", URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify(
            "12345",
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn accepts_a_signature_made_with_the_default_port() {
        assert_eq!(
            sign(
                "12345",
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &params()
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert!(verify(
            "12345",
            URL,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
    }

    #[test]
    fn repeated_keys_are_deduplicated_and_sorted() {
        let p: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(sign("12345", URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn rejects_a_wrong_token_a_changed_parameter_or_another_url() {
        let good = sign("12345", URL, &params());
        assert!(!verify("54321", URL, &params(), &good));
        let mut changed = params();
        changed[4].1 = "+18005551213".into();
        assert!(!verify("12345", URL, &changed, &good));
        assert!(!verify(
            "12345",
            "https://mycompany.com/other.php",
            &params(),
            &good
        ));
        assert!(!verify("12345", URL, &params(), ""));
    }
}
