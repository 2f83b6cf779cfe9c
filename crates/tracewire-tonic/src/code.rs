//! gRPC status codes as the conventions name them, where a call's status
//! comes from, and which codes are errors on which side.

use std::time::Duration;

/// The names of the gRPC status codes, by number (`rpc.response.status_code`).
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A gRPC status code; numbers outside the table are `UNKNOWN`, as the gRPC
/// spec says a client must treat them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code(u8);

impl Code {
    pub(crate) const OK: Code = Code(0);
    pub(crate) const CANCELLED: Code = Code(1);
    pub(crate) const UNKNOWN: Code = Code(2);
    pub(crate) const DEADLINE_EXCEEDED: Code = Code(4);
    pub(crate) const UNIMPLEMENTED: Code = Code(12);
    pub(crate) const INTERNAL: Code = Code(13);
    pub(crate) const UNAVAILABLE: Code = Code(14);
    pub(crate) const DATA_LOSS: Code = Code(15);

    /// From the number on the wire.
    pub(crate) fn from_number(n: i64) -> Code {
        match u8::try_from(n) {
            Ok(n) if usize::from(n) < NAMES.len() => Code(n),
            _ => Code::UNKNOWN,
        }
    }

    /// The number on the wire.
    pub(crate) fn number(self) -> u8 {
        self.0
    }

    /// The conventions' string for the code.
    pub(crate) fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }

    /// The server-side error rule: only the codes that mean the server
    /// failed (a caller's bad argument or a missing entity is not).
    pub(crate) fn is_server_error(self) -> bool {
        matches!(
            self,
            Code::UNKNOWN
                | Code::DEADLINE_EXCEEDED
                | Code::UNIMPLEMENTED
                | Code::INTERNAL
                | Code::UNAVAILABLE
                | Code::DATA_LOSS
        )
    }

    /// The client-side error rule: every code but `OK`.
    pub(crate) fn is_client_error(self) -> bool {
        self != Code::OK
    }
}

impl From<tonic::Code> for Code {
    fn from(code: tonic::Code) -> Self {
        Code::from_number(code as i64)
    }
}

/// Header names built once: a lookup by `&str` parses the name every time.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// `grpc-status` in a header map (a trailers-only response's headers, or the
/// trailers): `None` when absent, `UNKNOWN` when unreadable.
pub(crate) fn status_in(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get(&GRPC_STATUS)?;
    Some(
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map_or(Code::UNKNOWN, Code::from_number),
    )
}

/// The gRPC status a response head already decides: its `grpc-status`
/// (trailers-only), or, for an HTTP status other than 200, the mapping of the
/// gRPC project's `http-grpc-status-mapping.md`. `None`: the status follows
/// in the trailers.
pub(crate) fn status_of_head(status: http::StatusCode, headers: &http::HeaderMap) -> Option<Code> {
    if let Some(code) = status_in(headers) {
        return Some(code);
    }
    if status == http::StatusCode::OK {
        return None;
    }
    Some(match status.as_u16() {
        400 => Code::INTERNAL,
        401 => Code(16),
        403 => Code(7),
        404 => Code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => Code::UNAVAILABLE,
        _ => Code::UNKNOWN,
    })
}

/// The `grpc-message` of a header map, percent-decoded (the span status's
/// description of a failed call).
pub(crate) fn message_in(headers: &http::HeaderMap) -> String {
    tonic::Status::from_header_map(headers)
        .map(|status| status.message().to_owned())
        .unwrap_or_default()
}

/// A `grpc-timeout` value (`1S`, `250m`, …: at most 8 digits and a unit);
/// `None` when absent or malformed (a malformed deadline is no deadline).
pub(crate) fn timeout_in(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(&GRPC_TIMEOUT)?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn every_code_has_the_conventions_name() {
        for code in [
            tonic::Code::Ok,
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
            tonic::Code::InvalidArgument,
            tonic::Code::DeadlineExceeded,
            tonic::Code::NotFound,
            tonic::Code::AlreadyExists,
            tonic::Code::PermissionDenied,
            tonic::Code::ResourceExhausted,
            tonic::Code::FailedPrecondition,
            tonic::Code::Aborted,
            tonic::Code::OutOfRange,
            tonic::Code::Unimplemented,
            tonic::Code::Internal,
            tonic::Code::Unavailable,
            tonic::Code::DataLoss,
            tonic::Code::Unauthenticated,
        ] {
            // tonic's Debug is CamelCase; the conventions want SCREAMING_SNAKE.
            let camel = format!("{code:?}");
            let snake: String = camel
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter()
                        .chain(std::iter::once(c.to_ascii_uppercase()))
                })
                .collect();
            assert_eq!(Code::from(code).name(), snake);
        }
    }

    #[test]
    fn error_rules_per_side() {
        let server_errors: Vec<&str> = (0..17)
            .map(Code::from_number)
            .filter(|c| c.is_server_error())
            .map(Code::name)
            .collect();
        assert_eq!(
            server_errors,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        assert!(!Code::OK.is_client_error());
        assert!((1..17).map(Code::from_number).all(Code::is_client_error));
    }

    #[test]
    fn statuses_from_the_wire() {
        assert_eq!(Code::from_number(99), Code::UNKNOWN);
        assert_eq!(Code::from_number(-1), Code::UNKNOWN);
        assert_eq!(status_in(&headers(&[("grpc-status", "5")])), Some(Code(5)));
        assert_eq!(
            status_in(&headers(&[("grpc-status", "x")])),
            Some(Code::UNKNOWN)
        );
        assert_eq!(status_in(&headers(&[])), None);
        let ok = http::StatusCode::OK;
        assert_eq!(status_of_head(ok, &headers(&[])), None);
        assert_eq!(
            status_of_head(ok, &headers(&[("grpc-status", "12")])),
            Some(Code::UNIMPLEMENTED)
        );
        assert_eq!(
            status_of_head(http::StatusCode::SERVICE_UNAVAILABLE, &headers(&[])),
            Some(Code::UNAVAILABLE)
        );
        assert_eq!(
            status_of_head(http::StatusCode::NOT_FOUND, &headers(&[])),
            Some(Code::UNIMPLEMENTED)
        );
        assert_eq!(
            status_of_head(http::StatusCode::IM_A_TEAPOT, &headers(&[])),
            Some(Code::UNKNOWN)
        );
    }

    #[test]
    fn deadlines() {
        let t = |v: &'static str| timeout_in(&headers(&[("grpc-timeout", v)]));
        assert_eq!(t("1S"), Some(Duration::from_secs(1)));
        assert_eq!(t("250m"), Some(Duration::from_millis(250)));
        assert_eq!(t("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(t("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(t("123456789S"), None, "more than 8 digits");
        assert_eq!(t("S"), None);
        assert_eq!(t("-1S"), None);
        assert_eq!(t("10x"), None);
        assert_eq!(timeout_in(&headers(&[])), None);
    }
}
