//! Keeping credentials out of `url.full` and `url.query` (semconv §1.4).

use std::borrow::Cow;

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";

/// Query keys whose values are replaced, matched case-sensitively: the
/// semconv list (v1.44 plus `AWSAccessKeyId` and `Signature` from main), and,
/// as a project choice, the common bearer-style names.
pub const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "AWSAccessKeyId",
    "Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "sig",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "api_key",
    "apikey",
    "password",
    "client_secret",
    "secret",
];

/// Replaces the values of sensitive keys in a query string (no leading `?`).
/// Returns the input unchanged (borrowed) when there is nothing to redact.
pub fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        pair.contains('=') && SENSITIVE_QUERY_KEYS.contains(&key)
    };
    if !query.split('&').any(sensitive) {
        return Cow::Borrowed(query);
    }
    let redacted: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            if sensitive(pair) {
                let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                Cow::Owned(format!("{key}={REDACTED}"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    Cow::Owned(redacted.join("&"))
}

/// `url.full` without credentials: userinfo becomes `REDACTED:REDACTED`,
/// sensitive query values become `REDACTED`.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(url);
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            out = Cow::Owned(format!(
                "{scheme}://{REDACTED}:{REDACTED}@{}",
                &rest[at + 1..]
            ));
        }
    }
    if let Some(q) = out.find('?') {
        let end = out[q + 1..].find('#').map_or(out.len(), |i| q + 1 + i);
        if let Cow::Owned(query) = redact_query(&out[q + 1..end]) {
            out = Cow::Owned(format!("{}?{query}{}", &out[..q], &out[end..]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_of_sensitive_keys_are_replaced() {
        assert_eq!(
            redact_query("color=blue&sig=abc"),
            "color=blue&sig=REDACTED"
        );
        assert_eq!(
            redact_query("X-Amz-Signature=1&x-amz-signature=2"),
            "X-Amz-Signature=REDACTED&x-amz-signature=2"
        );
        assert!(matches!(redact_query("a=1&b=2"), Cow::Borrowed(_)));
        assert_eq!(redact_query("token"), "token");
    }

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(
            redact_url("https://user:pw@example.com:8443/p?q=1&token=t#frag"),
            "https://REDACTED:REDACTED@example.com:8443/p?q=1&token=REDACTED#frag"
        );
        assert_eq!(
            redact_url("http://example.com/a@b"),
            "http://example.com/a@b"
        );
        assert!(matches!(
            redact_url("http://example.com/x?y=1"),
            Cow::Borrowed(_)
        ));
    }
}
