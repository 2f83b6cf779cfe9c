//! HTTP semantic conventions shared by the server and client crates: method
//! normalization, span names, status rules, redaction, header capture and
//! the duration instruments. The framework crates only adapt their types.

pub mod attr;
mod capture;
pub mod env;
mod instruments;
pub(crate) mod intern;
mod method;
pub mod metric;
mod redact;
mod sampling;
mod server;

pub use capture::{HeaderCapture, is_sensitive_header};
pub use instruments::{ClientInstruments, ServerInstruments};
pub use intern::InternedRoute;
pub use method::KnownMethod;
pub use redact::{REDACTED, SENSITIVE_QUERY_KEYS, redact_query, redact_url};
pub use sampling::SamplingHint;
pub use server::{
    ServerRequest, ServerRequestHeaders, ServerStrings, forwarded_param, request_attributes,
    request_scheme, split_host,
};

/// `network.protocol.version` for an `http::Version`.
pub fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// A distinct small number per [`protocol_version`] value (0: none), for
/// keys of bound metric handles.
pub fn protocol_version_key(version: http::Version) -> u8 {
    match version {
        http::Version::HTTP_09 => 1,
        http::Version::HTTP_10 => 2,
        http::Version::HTTP_11 => 3,
        http::Version::HTTP_2 => 4,
        http::Version::HTTP_3 => 5,
        _ => 0,
    }
}

/// Server side: only 5xx is an error (4xx is the client's).
pub fn server_status_is_error(status: u16) -> bool {
    status >= 500
}

/// Client side: 4xx and 5xx are errors.
pub fn client_status_is_error(status: u16) -> bool {
    status >= 400
}

/// The `error.type` of a status code: the code as a string, from a static
/// table for the common ones (no allocation on the hot path).
pub fn status_error_type(status: u16) -> std::borrow::Cow<'static, str> {
    const COMMON: [(u16, &str); 16] = [
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (408, "408"),
        (409, "409"),
        (413, "413"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (501, "501"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (505, "505"),
    ];
    match COMMON.iter().find(|(c, _)| *c == status) {
        Some((_, s)) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(status.to_string()),
    }
}

/// Server span name: `{method} {route}`, or `{method}` without a route;
/// `HTTP` stands for `_OTHER`. Interned: the set of routes is bounded, so each
/// name is built once and requests reuse it without allocating.
pub fn server_span_name(
    method: KnownMethod,
    route: Option<&str>,
) -> std::borrow::Cow<'static, str> {
    match route {
        None => std::borrow::Cow::Borrowed(method.span_prefix()),
        Some(route) => intern::intern_pair(method.span_prefix(), route),
    }
}

/// The interned entry for a route template: the template and its span
/// names as `&'static str`, or `None` past the cap (more routes than any
/// real router has).
pub fn intern_route(route: &str) -> Option<&'static InternedRoute> {
    intern::intern_route(route)
}

/// A `StringValue` that borrows static strings instead of copying them.
pub fn string_value(s: std::borrow::Cow<'static, str>) -> opentelemetry::StringValue {
    match s {
        std::borrow::Cow::Borrowed(s) => opentelemetry::StringValue::from(s),
        std::borrow::Cow::Owned(s) => opentelemetry::StringValue::from(s),
    }
}
