//! HTTP-server conventions any server integration shares (axum/tower today;
//! hyper, tonic or actix tomorrow): the request headers the attributes come
//! from, the original scheme, `Forwarded` parameters, `host[:port]`.

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

#[cfg(test)]
mod tests {
    use super::split_host;

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
