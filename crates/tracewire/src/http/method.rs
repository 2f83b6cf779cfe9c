//! Request method normalization (semconv §1.3).

/// A method from the known set, or `_OTHER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownMethod {
    /// One of `CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT TRACE QUERY`.
    Known(&'static str),
    /// Anything else (`http.request.method_original` carries it).
    Other,
}

const KNOWN: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "QUERY",
];

impl KnownMethod {
    /// Exact, case-sensitive match against the known set.
    pub fn of(method: &str) -> Self {
        KNOWN
            .iter()
            .find(|m| **m == method)
            .map_or(Self::Other, |m| Self::Known(m))
    }

    /// Like [`of`](Self::of) for an `http::Method`, without string compares
    /// for the standard ones.
    pub fn of_http(method: &http::Method) -> Self {
        match *method {
            http::Method::GET => Self::Known(KNOWN[0]),
            http::Method::POST => Self::Known(KNOWN[1]),
            http::Method::PUT => Self::Known(KNOWN[2]),
            http::Method::DELETE => Self::Known(KNOWN[3]),
            http::Method::HEAD => Self::Known(KNOWN[4]),
            http::Method::OPTIONS => Self::Known(KNOWN[5]),
            http::Method::PATCH => Self::Known(KNOWN[6]),
            http::Method::CONNECT => Self::Known(KNOWN[7]),
            http::Method::TRACE => Self::Known(KNOWN[8]),
            _ => Self::of(method.as_str()),
        }
    }

    /// The `http.request.method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Known(m) => m,
            Self::Other => "_OTHER",
        }
    }

    /// A small index: the position in the known set, `_OTHER` last.
    pub fn index(self) -> usize {
        match self {
            // Known methods hold the table's own strings: compare addresses
            // first, content only for a `Known` built by hand.
            Self::Known(m) => KNOWN
                .iter()
                .position(|k| k.as_ptr() == m.as_ptr())
                .or_else(|| KNOWN.iter().position(|k| *k == m))
                .unwrap_or(KNOWN.len()),
            Self::Other => KNOWN.len(),
        }
    }

    /// The method at [`index`](Self::index).
    pub fn from_index(index: usize) -> Self {
        KNOWN.get(index).map_or(Self::Other, |m| Self::Known(m))
    }

    /// How many indexes there are.
    pub const COUNT: usize = KNOWN.len() + 1;

    /// The span name prefix: the method, or `HTTP` for `_OTHER`.
    pub fn span_prefix(self) -> &'static str {
        match self {
            Self::Known(m) => m,
            Self::Other => "HTTP",
        }
    }
}
