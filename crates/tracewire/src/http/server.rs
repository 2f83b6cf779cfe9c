//! HTTP-server conventions any server integration shares (axum/tower today;
//! hyper, tonic or actix tomorrow): the request headers the attributes come
//! from, the original scheme, `Forwarded` parameters, `host[:port]`, and the
//! request-side span attributes built from them.

use opentelemetry::{KeyValue, StringValue};

use super::{KnownMethod, attr, redact_query};
use crate::recent::{AddressText, RecentValue};

/// The strings a server's requests repeat — the `Host` it is reached by, its
/// few callers' user agents, the IP addresses of its peers —, kept by the
/// server integration and shared by [`request_attributes`] instead of being
/// copied into every span.
#[derive(Debug, Default)]
pub struct ServerStrings {
    server_addresses: RecentValue,
    user_agents: RecentValue,
    ip_addresses: AddressText,
}

/// The request headers the attributes come from, found in one pass over the
/// headers rather than one hash lookup per name.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerRequestHeaders<'a> {
    /// `host`, first line.
    pub host: Option<&'a str>,
    /// `forwarded`, first line.
    pub forwarded: Option<&'a str>,
    /// `x-forwarded-host`, first line.
    pub x_forwarded_host: Option<&'a str>,
    /// `x-forwarded-for`, first line.
    pub x_forwarded_for: Option<&'a str>,
    /// `x-forwarded-proto`, first line.
    pub x_forwarded_proto: Option<&'a str>,
    /// `user-agent`, first line.
    pub user_agent: Option<&'a str>,
    /// `content-length`, first line.
    pub content_length: Option<&'a str>,
}

impl<'a> ServerRequestHeaders<'a> {
    /// Scans `headers` once.
    #[inline] // on every request of every server integration
    pub fn scan(headers: &'a http::HeaderMap) -> Self {
        let mut seen = Self::default();
        for (name, value) in headers {
            let slot = match *name {
                http::header::HOST => &mut seen.host,
                http::header::USER_AGENT => &mut seen.user_agent,
                http::header::FORWARDED => &mut seen.forwarded,
                http::header::CONTENT_LENGTH => &mut seen.content_length,
                _ => match name.as_str() {
                    "x-forwarded-host" => &mut seen.x_forwarded_host,
                    "x-forwarded-for" => &mut seen.x_forwarded_for,
                    "x-forwarded-proto" => &mut seen.x_forwarded_proto,
                    _ => continue,
                },
            };
            // The first line of a repeated header wins.
            if slot.is_none() {
                *slot = value.to_str().ok();
            }
        }
        seen
    }
}

/// The original scheme (`url.scheme`): `Forwarded: proto=`,
/// `X-Forwarded-Proto`, the URI's, else `http`.
#[inline] // on every request of every server integration
pub fn request_scheme(seen: &ServerRequestHeaders<'_>, uri: &http::Uri) -> &'static str {
    let forwarded = seen
        .forwarded
        .and_then(|f| forwarded_param(f, "proto"))
        .or_else(|| {
            seen.x_forwarded_proto
                .map(|p| p.split(',').next().unwrap_or("").trim())
        });
    match forwarded.or(uri.scheme_str()) {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// A parameter (`proto`, `host`, `for`) of the first element of a
/// `Forwarded` header (RFC 7239).
#[inline] // on every request of every server integration
pub fn forwarded_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(',').next()?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// `host[:port]` → (host, port). Byte searches: this runs on every sampled
/// request, and `str` patterns cost several times more here.
#[inline] // on every request of every server integration
pub fn split_host(host: &str) -> (&str, Option<u16>) {
    let bytes = host.as_bytes();
    if bytes.first() == Some(&b'[') {
        if let Some(end) = bytes.iter().position(|&b| b == b']') {
            let port = host[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&host[1..end], port);
        }
    }
    match bytes.iter().rposition(|&b| b == b':') {
        // One colon: host and port. More than one: a bare IPv6 address.
        Some(colon) if !bytes[..colon].contains(&b':') => {
            (&host[..colon], host[colon + 1..].parse().ok())
        }
        _ => (host, None),
    }
}

/// What a server integration knows of a request beyond its headers.
#[derive(Debug, Clone)]
pub struct ServerRequest<'a> {
    /// The method, normalized.
    pub method: KnownMethod,
    /// The method as sent (kept as `http.request.method_original` when unknown).
    pub method_original: &'a str,
    /// `url.scheme`, from [`request_scheme`].
    pub scheme: &'static str,
    /// `url.path` (a server with interned routes may share the route's string).
    pub path: StringValue,
    /// The raw query, redacted here.
    pub query: Option<&'a str>,
    /// `http.route`, when the framework matched one.
    pub route: Option<StringValue>,
    /// `network.protocol.version`.
    pub protocol_version: Option<&'static str>,
    /// The request target's authority (absolute-form or HTTP/2 `:authority`).
    pub authority: Option<&'a str>,
    /// The connection's peer (`network.peer.*`, and `client.address` when no
    /// proxy header names the client).
    pub peer: Option<std::net::SocketAddr>,
}

/// The request-side attributes of a SERVER span (semconv 1.44): method,
/// scheme, path, redacted query, route, protocol version, `server.address`
/// and `.port` (from `Forwarded: host=`, `X-Forwarded-Host`, the authority,
/// then `Host`), `client.address` (from `Forwarded: for=`, the first
/// `X-Forwarded-For`, then the peer), `network.peer.*`, `user_agent.original`.
/// `strings` shares the server address, user agent and peer address with
/// earlier requests that had the same. The vector has room for
/// the response's attributes too, so adding them does not reallocate.
#[inline] // once per sampled request: inlined into the integration, as when it was generic
pub fn request_attributes(
    request: ServerRequest<'_>,
    seen: &ServerRequestHeaders<'_>,
    strings: &ServerStrings,
) -> Vec<KeyValue> {
    let mut a = Vec::with_capacity(16);
    a.push(KeyValue::new(
        attr::HTTP_REQUEST_METHOD,
        request.method.as_str(),
    ));
    if request.method == KnownMethod::Other {
        a.push(KeyValue::new(
            attr::HTTP_REQUEST_METHOD_ORIGINAL,
            request.method_original.to_owned(),
        ));
    }
    a.push(KeyValue::new(attr::URL_SCHEME, request.scheme));
    a.push(KeyValue::new(attr::URL_PATH, request.path));
    if let Some(query) = request.query {
        a.push(KeyValue::new(
            attr::URL_QUERY,
            redact_query(query).into_owned(),
        ));
    }
    if let Some(route) = request.route {
        a.push(KeyValue::new(attr::HTTP_ROUTE, route));
    }
    if let Some(version) = request.protocol_version {
        a.push(KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, version));
    }
    let host = seen
        .forwarded
        .and_then(|f| forwarded_param(f, "host"))
        .or(seen.x_forwarded_host)
        .or(request.authority)
        .or(seen.host);
    if let Some(host) = host {
        let (host, port) = split_host(host);
        a.push(KeyValue::new(
            attr::SERVER_ADDRESS,
            strings.server_addresses.get(host),
        ));
        if let Some(port) = port {
            a.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
    }
    let client = seen
        .forwarded
        .and_then(|f| forwarded_param(f, "for"))
        .or_else(|| {
            seen.x_forwarded_for
                .and_then(|x| x.split(',').next())
                .map(str::trim)
        });
    // The peer's address text, looked up once for both attributes.
    let peer = request
        .peer
        .map(|peer| (strings.ip_addresses.of(peer.ip()), peer.port()));
    match (client, &peer) {
        (Some(client), _) => a.push(KeyValue::new(
            attr::CLIENT_ADDRESS,
            split_host(client).0.to_owned(),
        )),
        (None, Some((address, _))) => {
            a.push(KeyValue::new(attr::CLIENT_ADDRESS, address.clone()));
        }
        (None, None) => {}
    }
    if let Some((address, port)) = peer {
        a.push(KeyValue::new(attr::NETWORK_PEER_ADDRESS, address));
        a.push(KeyValue::new(attr::NETWORK_PEER_PORT, i64::from(port)));
    }
    if let Some(agent) = seen.user_agent {
        a.push(KeyValue::new(
            attr::USER_AGENT_ORIGINAL,
            strings.user_agents.get(agent),
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_attributes_prefer_proxy_headers_and_fall_back_to_the_connection() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "internal:8080".parse().unwrap());
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        headers.insert(
            "forwarded",
            "host=shop.example:443;proto=https".parse().unwrap(),
        );
        headers.insert("user-agent", "curl/8".parse().unwrap());
        let seen = ServerRequestHeaders::scan(&headers);
        let request = ServerRequest {
            method: KnownMethod::Other,
            method_original: "PURGE",
            scheme: "https",
            path: StringValue::from("/users/7"),
            query: Some("token=secret&page=2"),
            route: Some(StringValue::from("/users/{id}")),
            protocol_version: Some("1.1"),
            authority: None,
            peer: Some("10.0.0.2:41000".parse().unwrap()),
        };
        let attributes = request_attributes(request, &seen, &ServerStrings::default());
        let get = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(get("http.request.method").as_deref(), Some("_OTHER"));
        assert_eq!(
            get("http.request.method_original").as_deref(),
            Some("PURGE")
        );
        assert_eq!(get("url.query").as_deref(), Some("token=REDACTED&page=2"));
        assert_eq!(get("server.address").as_deref(), Some("shop.example"));
        assert_eq!(get("server.port").as_deref(), Some("443"));
        assert_eq!(get("client.address").as_deref(), Some("203.0.113.7"));
        assert_eq!(get("network.peer.address").as_deref(), Some("10.0.0.2"));
        assert_eq!(get("network.peer.port").as_deref(), Some("41000"));
        assert_eq!(get("user_agent.original").as_deref(), Some("curl/8"));
        assert!(attributes.capacity() >= 16);
    }

    #[test]
    fn host_and_port_are_split_for_names_and_both_ip_families() {
        assert_eq!(split_host("example.com"), ("example.com", None));
        assert_eq!(split_host("example.com:8080"), ("example.com", Some(8080)));
        assert_eq!(split_host("10.0.0.1:443"), ("10.0.0.1", Some(443)));
        assert_eq!(split_host("[::1]:3000"), ("::1", Some(3000)));
        assert_eq!(split_host("[2001:db8::1]"), ("2001:db8::1", None));
        assert_eq!(split_host("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(split_host("example.com:http"), ("example.com", None));
        assert_eq!(split_host(""), ("", None));
    }
}
