//! Request method normalization (semconv §1.3).

/// A method from the known set, or `_OTHER`: a plain enum, so comparing,
/// indexing and naming it is a jump table, not a string compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// `CONNECT`
    Connect,
    /// `TRACE`
    Trace,
    /// `QUERY`
    Query,
    /// Anything else (`http.request.method_original` carries it).
    Other,
}

/// Every method, in [`KnownMethod::index`] order.
const ALL: [KnownMethod; KnownMethod::COUNT] = [
    KnownMethod::Get,
    KnownMethod::Post,
    KnownMethod::Put,
    KnownMethod::Delete,
    KnownMethod::Head,
    KnownMethod::Options,
    KnownMethod::Patch,
    KnownMethod::Connect,
    KnownMethod::Trace,
    KnownMethod::Query,
    KnownMethod::Other,
];

impl KnownMethod {
    /// Exact, case-sensitive match against the known set.
    pub fn of(method: &str) -> Self {
        match method {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            "PATCH" => Self::Patch,
            "CONNECT" => Self::Connect,
            "TRACE" => Self::Trace,
            "QUERY" => Self::Query,
            _ => Self::Other,
        }
    }

    /// Like [`of`](Self::of) for an `http::Method`, without string compares
    /// for the standard ones.
    pub fn of_http(method: &http::Method) -> Self {
        match *method {
            http::Method::GET => Self::Get,
            http::Method::POST => Self::Post,
            http::Method::PUT => Self::Put,
            http::Method::DELETE => Self::Delete,
            http::Method::HEAD => Self::Head,
            http::Method::OPTIONS => Self::Options,
            http::Method::PATCH => Self::Patch,
            http::Method::CONNECT => Self::Connect,
            http::Method::TRACE => Self::Trace,
            _ => Self::of(method.as_str()),
        }
    }

    /// The `http.request.method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
            Self::Patch => "PATCH",
            Self::Connect => "CONNECT",
            Self::Trace => "TRACE",
            Self::Query => "QUERY",
            Self::Other => "_OTHER",
        }
    }

    /// A small index: the position in the known set, `_OTHER` last.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The method at [`index`](Self::index).
    pub fn from_index(index: usize) -> Self {
        ALL.get(index).copied().unwrap_or(Self::Other)
    }

    /// How many indexes there are.
    pub const COUNT: usize = 11;

    /// The span name prefix: the method, or `HTTP` for `_OTHER`.
    pub fn span_prefix(self) -> &'static str {
        match self {
            Self::Other => "HTTP",
            known => known.as_str(),
        }
    }
}
