//! Opt-in header capture by explicit allow-list (semconv §1.4), with the
//! headers that carry credentials refused whatever the list says.

use opentelemetry::{Array, KeyValue, StringValue, Value};

/// Headers never captured, even when allow-listed.
const NEVER_CAPTURED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
];

/// Whether `name` (any case) carries credentials and is never captured.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    NEVER_CAPTURED.contains(&lower.as_str())
        || lower.contains("secret")
        || lower.contains("password")
        || lower.ends_with("-token")
}

/// The headers to record on spans for one direction.
#[derive(Debug, Clone, Default)]
pub struct HeaderCapture {
    /// `(header name, attribute key)`, precomputed.
    names: Vec<(http::HeaderName, String)>,
}

impl HeaderCapture {
    /// Allow-lists `names` for `prefix` (`http.request.header` or
    /// `http.response.header`); sensitive and invalid names are dropped.
    pub fn new<I, S>(prefix: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .filter_map(|n| {
                let n = n.as_ref().trim().to_ascii_lowercase();
                if n.is_empty() || is_sensitive_header(&n) {
                    return None;
                }
                let header = http::HeaderName::from_bytes(n.as_bytes()).ok()?;
                Some((header, format!("{prefix}.{n}")))
            })
            .collect();
        Self { names }
    }

    /// The allow-list named by an environment variable (comma-separated, as
    /// the OpenTelemetry Java agent reads `OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_REQUEST_HEADERS`
    /// and its three siblings), read through `lookup`.
    pub fn from_env(prefix: &str, variable: &str, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let list = lookup(variable).unwrap_or_default();
        Self::new(
            prefix,
            list.split(',').map(str::trim).filter(|n| !n.is_empty()),
        )
    }

    /// Whether nothing is captured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The attributes for `headers`: one string array per present header.
    pub fn attributes(&self, headers: &http::HeaderMap) -> Vec<KeyValue> {
        self.names
            .iter()
            .filter_map(|(name, key)| {
                let values: Vec<StringValue> = headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(|v| StringValue::from(v.to_owned()))
                    .collect();
                (!values.is_empty())
                    .then(|| KeyValue::new(key.clone(), Value::Array(Array::String(values))))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lists_are_trimmed_and_never_include_credentials() {
        let capture = HeaderCapture::from_env("http.request.header", "X", |_| {
            Some(" X-Request-Id , authorization,,Cookie,x-tenant".into())
        });
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-request-id",
            "r1".parse().unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "authorization",
            "secret".parse().unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "x-tenant",
            "acme".parse().unwrap_or_else(|_| unreachable!()),
        );
        let keys: Vec<String> = capture
            .attributes(&headers)
            .into_iter()
            .map(|kv| kv.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "http.request.header.x-request-id",
                "http.request.header.x-tenant"
            ]
        );
        assert!(HeaderCapture::from_env("p", "X", |_| None).is_empty());
    }
}
