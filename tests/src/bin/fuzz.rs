//! `cargo xtask fuzz`: generated and mutated inputs for every parser that
//! reads what a stranger sends or sets — `traceparent`, `tracestate`,
//! `baggage` (as raw header bytes, through the real carrier), the `OTEL_*`
//! variables, the SQL sanitizer and the Redis command sanitizer — asserting
//! no panic, bounded output and the round trips that exist.
//!
//! A deterministic engine on the stable toolchain (no coverage guidance):
//! each case is a seed mutated 1–8 times, a splice of two seeds, a string
//! built from the grammar's alphabet, or random bytes. The same `--seed`
//! gives the same inputs; a failure prints the input that caused it.
//!
//! `fuzz [--cases N] [--seed S] [--only TARGET]` (default 1,000,000 cases per
//! target).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use tracewire::otel::baggage::BaggageExt as _;
use tracewire::otel::propagation::TextMapPropagator as _;
use tracewire::otel::trace::TraceContextExt as _;
use tracewire::propagation::{
    HeaderExtractor, HeaderInjector, PropagatorKind, Traceparent, composite, decode_baggage_value,
    encode_baggage_value, parse_tracestate,
};

/// splitmix64: fast, and good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that matter to the grammars under test, tried more often than chance would.
const INTERESTING: &[&[u8]] = &[
    b",",
    b"=",
    b";",
    b"%",
    b"@",
    b"-",
    b" ",
    b"\t",
    b"\"",
    b"'",
    b"\\",
    b"/",
    b"*",
    b"_",
    b"00",
    b"ff",
    b"01",
    b"%zz",
    b"%2C",
    b"%F",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xff",
    b"\x00",
    b"\x7f",
    b"\r\n",
    b"--",
    b"/*",
    b"*/",
    b"$1",
    b"?",
    b"IN (",
    b")",
    b"e+9",
    b"0x",
];

/// A seed changed `1..=8` times: flips, inserts, deletions, duplications.
fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let token = rng.pick(INTERESTING);
                data.splice(i..i, token.iter().copied());
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                data.drain(start..end);
            }
            4 if len > 0 => {
                // Duplicate a range, sometimes many times: long inputs and repetition.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = data[start..end].to_vec();
                let times = if rng.chance(50) {
                    1 + rng.below(400)
                } else {
                    1
                };
                for _ in 0..times {
                    data.splice(end..end, piece.iter().copied());
                }
            }
            5 => {
                let other = rng.pick(seeds);
                let at = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => {
                let i = rng.below(len);
                data.truncate(i);
            }
            7 => {
                let i = rng.below(len + 1);
                data.insert(i, b"0123456789abcdef"[rng.below(16)]);
            }
            _ => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
        }
    }
    data
}

/// A string from `alphabet` with separators from `separators` (grammar-shaped noise).
fn generate(rng: &mut Rng, alphabet: &[u8], separators: &[u8]) -> Vec<u8> {
    let max = if rng.chance(20) { 2000 } else { 80 };
    let len = rng.below(max);
    (0..len)
        .map(|_| {
            if !separators.is_empty() && rng.chance(6) {
                *rng.pick(separators)
            } else {
                *rng.pick(alphabet)
            }
        })
        .collect()
}

/// One case's input: mutated seed (most), grammar noise, or raw bytes.
fn input(rng: &mut Rng, seeds: &[Vec<u8>], alphabet: &[u8], separators: &[u8]) -> Vec<u8> {
    match rng.below(10) {
        0..=6 => {
            let seed = rng.pick(seeds).clone();
            mutate(rng, &seed, seeds)
        }
        7 | 8 => generate(rng, alphabet, separators),
        _ => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
    }
}

thread_local! {
    /// The input under test, printed if a check panics.
    static CURRENT: RefCell<(String, Vec<u8>)> = const { RefCell::new((String::new(), Vec::new())) };
}

fn escaped(bytes: &[u8]) -> String {
    let shown: Vec<u8> = bytes.iter().take(600).copied().collect();
    format!(
        "b\"{}\"{}",
        shown.escape_ascii(),
        if bytes.len() > 600 {
            format!(" … ({} bytes)", bytes.len())
        } else {
            String::new()
        }
    )
}

/// A property failed: report the input and stop.
fn fail(target: &str, input: &[u8], what: String) -> ! {
    eprintln!("fuzz: {target}: {what}\n  input: {}", escaped(input));
    std::process::exit(1);
}

struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    alphabet: &'static [u8],
    separators: &'static [u8],
    check: fn(&[u8]),
}

const HEX: &[u8] = b"0123456789abcdefABCDEF-";
const KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-*/@";
const TOKEN_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'*+-.^_`|~%";
const SQL_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzSELECTFROMWHEREIN0123456789 ,()'\"`-/*=?$:.;\n\\";
const PRINTABLE: &[u8] = b" !\"#$%&'()*+-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn header_map(name: &str, lines: &[&[u8]]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for line in lines {
        // HeaderValue refuses control bytes (what HTTP cannot carry); those are
        // the HTTP parser's to reject, not ours.
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap_or(http::header::ACCEPT),
                value,
            );
        }
    }
    map
}

/// Splits an input into header lines at `\n` (several lines of one field).
fn lines(input: &[u8]) -> Vec<&[u8]> {
    input.split(|&c| c == b'\n').take(8).collect()
}

fn check_traceparent(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Some(parsed) = Traceparent::parse(&text) {
        let formatted = parsed.format();
        if formatted.len() != 55 {
            fail(
                "traceparent",
                input,
                format!("formatted to {} bytes: {formatted}", formatted.len()),
            );
        }
        if Traceparent::parse(&formatted)
            .as_ref()
            .map(Traceparent::format)
            .as_deref()
            != Some(formatted.as_str())
        {
            fail(
                "traceparent",
                input,
                format!("{formatted} does not parse back to itself"),
            );
        }
    }
    // Through the propagator and the carrier, as raw header bytes.
    let w3c = composite(&[PropagatorKind::TraceContext]);
    let cx = w3c.extract(&HeaderExtractor(&header_map("traceparent", &lines(input))));
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        let mut out = http::HeaderMap::new();
        w3c.inject_context(&cx, &mut HeaderInjector(&mut out));
        let sent = out.get("traceparent").map(|v| v.as_bytes().len());
        if sent != Some(55) {
            fail(
                "traceparent",
                input,
                format!("a valid parent re-sent as {sent:?} bytes"),
            );
        }
    }
}

fn check_tracestate(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let all = lines(input);
    let texts: Vec<String> = all
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let parsed = parse_tracestate(texts.iter().map(String::as_str));
    if let Some(members) = &parsed {
        if members.len() > 32 {
            fail(
                "tracestate",
                input,
                format!("{} members kept", members.len()),
            );
        }
        let joined = members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        if joined.len() > 512 {
            fail("tracestate", input, format!("{} bytes kept", joined.len()));
        }
        if parse_tracestate([joined.as_str()]).as_ref() != Some(members) {
            fail(
                "tracestate",
                input,
                format!("{joined:?} does not parse back to the same members"),
            );
        }
    }
    let _ = text;
    // Through the propagator, with a valid parent, as raw bytes.
    let mut map = header_map("tracestate", &all);
    map.insert(
        "traceparent",
        http::HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    let w3c = composite(&[PropagatorKind::TraceContext]);
    let cx = w3c.extract(&HeaderExtractor(&map));
    let mut out = http::HeaderMap::new();
    w3c.inject_context(&cx, &mut HeaderInjector(&mut out));
    if out.get("traceparent").is_none() {
        fail(
            "tracestate",
            input,
            "a bad tracestate invalidated traceparent".into(),
        );
    }
    if let Some(sent) = out.get("tracestate") {
        let sent = sent.as_bytes();
        if sent.len() > 512 || sent.is_empty() {
            fail(
                "tracestate",
                input,
                format!("sent {} bytes of tracestate", sent.len()),
            );
        }
        // What we send, we accept unchanged.
        let again = parse_tracestate([std::str::from_utf8(sent).unwrap_or("")]);
        let rejoined = again.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        if rejoined.as_deref().map(str::as_bytes) != Some(sent) {
            fail(
                "tracestate",
                input,
                format!(
                    "sent {} which does not parse to itself",
                    sent.escape_ascii()
                ),
            );
        }
    }
}

fn baggage_of(cx: &tracewire::otel::Context) -> BTreeMap<String, String> {
    cx.baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.to_string()))
        .collect()
}

/// The size of `members` as one header, properties aside (a lower bound).
fn encoded_size(members: &BTreeMap<String, String>) -> usize {
    members
        .iter()
        .map(|(k, v)| k.len() + 1 + encode_baggage_value(v).len() + 1)
        .sum::<usize>()
}

fn check_baggage(input: &[u8]) {
    let propagator = composite(&[PropagatorKind::Baggage]);
    let cx = propagator.extract(&HeaderExtractor(&header_map("baggage", &lines(input))));
    let received = baggage_of(&cx);
    if received.len() > 64 {
        fail("baggage", input, format!("{} members kept", received.len()));
    }
    let mut out = http::HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    if let Some(sent) = out.get("baggage") {
        if sent.as_bytes().len() > 8192 {
            fail(
                "baggage",
                input,
                format!("sent {} bytes", sent.as_bytes().len()),
            );
        }
        if sent.as_bytes().is_empty() {
            fail("baggage", input, "an empty baggage header sent".into());
        }
        let again = baggage_of(
            &propagator.extract(&HeaderExtractor(&header_map("baggage", &[sent.as_bytes()]))),
        );
        // Members may be dropped whole (never changed) when re-encoding makes
        // them exceed 8192 bytes (a decoded U+FFFD grows from 3 to 9 bytes).
        if again.iter().any(|(k, v)| received.get(k) != Some(v)) {
            fail(
                "baggage",
                input,
                format!(
                    "re-sent as {} and read back changed",
                    sent.as_bytes().escape_ascii()
                ),
            );
        }
        if again.len() != received.len() && encoded_size(&received) <= 8192 {
            fail(
                "baggage",
                input,
                "a member that fits was dropped on the way out".into(),
            );
        }
    } else if !received.is_empty() && encoded_size(&received) <= 8192 {
        fail("baggage", input, "members received but none sent".into());
    }
    // Any string survives encoding.
    let value = String::from_utf8_lossy(input);
    if decode_baggage_value(&encode_baggage_value(&value)) != value {
        fail(
            "baggage",
            input,
            "value does not survive encode/decode".into(),
        );
    }
}

/// Every variable tracewire reads, per-signal ones included.
fn variables() -> Vec<String> {
    let mut names: Vec<String> = [
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_PROPAGATORS",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_LOGS_EXPORTER",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_EVENT_COUNT_LIMIT",
        "OTEL_SPAN_LINK_COUNT_LIMIT",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_METRIC_EXPORT_TIMEOUT",
        "OTEL_METRICS_EXEMPLAR_FILTER",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "OTEL_LOG_LEVEL",
        "OTEL_CONFIG_FILE",
        "TRACEWIRE_LOG_FORMAT",
    ]
    .map(str::to_owned)
    .to_vec();
    for batch in ["OTEL_BSP_", "OTEL_BLRP_"] {
        for part in [
            "SCHEDULE_DELAY",
            "EXPORT_TIMEOUT",
            "MAX_QUEUE_SIZE",
            "MAX_EXPORT_BATCH_SIZE",
        ] {
            names.push(format!("{batch}{part}"));
        }
    }
    for signal in ["", "TRACES_", "METRICS_", "LOGS_"] {
        for part in [
            "ENDPOINT",
            "PROTOCOL",
            "HEADERS",
            "TIMEOUT",
            "COMPRESSION",
            "CERTIFICATE",
            "CLIENT_KEY",
            "CLIENT_CERTIFICATE",
            "INSECURE",
        ] {
            names.push(format!("OTEL_EXPORTER_OTLP_{signal}{part}"));
        }
    }
    names
}

const CONFIG_SEEDS: &[&str] = &[
    "true",
    "false",
    "otlp",
    "otlp,console",
    "none",
    "prometheus",
    "console",
    "grpc",
    "http/protobuf",
    "http/json",
    "parentbased_traceidratio",
    "traceidratio",
    "always_on",
    "0.25",
    "1.5",
    "-1",
    "5000",
    "0",
    "18446744073709551616",
    "tracecontext,baggage,b3,b3multi",
    "jaeger,xray",
    "service.name=shop,deployment.environment.name=prod",
    "k=v%2C1,k2=%E2%82%AC",
    "authorization=Bearer%20secret",
    "http://localhost:4318",
    "https://collector:4317/v1/traces",
    "localhost:4317",
    "gzip",
    "json",
    "pretty",
    "delta",
    "cumulative",
    "lowmemory",
    "trace_based",
    "always_off",
    "0.0.0.0",
    "9464",
    "99999",
    "info",
    "debug,tracewire=trace",
    "/etc/ssl/ca.pem",
];

fn check_config(input: &[u8]) {
    // The input picks variables and gives each a value.
    let names = variables();
    let mut rng = Rng(input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let values: Vec<String> = String::from_utf8_lossy(input)
        .split('\u{1}')
        .map(str::to_owned)
        .collect();
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for value in values {
        set.insert(rng.pick(&names).clone(), value);
    }
    let lookup = set.clone();
    let config = tracewire::Config::from_lookup(move |name| lookup.get(name).cloned());
    let warnings = config.warnings();
    if warnings.len() > set.len() + 1 {
        fail(
            "otel-env",
            input,
            format!(
                "{} warnings for {} variables: {warnings:?}",
                warnings.len(),
                set.len()
            ),
        );
    }
    for warning in warnings {
        if warning.len() > 600 {
            fail(
                "otel-env",
                input,
                format!("a warning of {} bytes", warning.len()),
            );
        }
        if !set.keys().any(|name| warning.contains(name.as_str())) {
            fail(
                "otel-env",
                input,
                format!("warning names no variable that was set: {warning}"),
            );
        }
        for (name, value) in &set {
            if name.ends_with("HEADERS")
                && value.len() >= 8
                && warning.contains(name.as_str())
                && warning.contains(value.as_str())
            {
                fail(
                    "otel-env",
                    input,
                    format!("a header value in a warning: {warning}"),
                );
            }
        }
    }
    let _ = config.summary("fuzz");
}

fn config_input(rng: &mut Rng) -> Vec<u8> {
    let count = 1 + rng.below(6);
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(count);
    let seeds: Vec<Vec<u8>> = CONFIG_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    for _ in 0..count {
        parts.push(input(rng, &seeds, PRINTABLE, b",=;%"));
    }
    parts.join(&b'\x01')
}

const SQL_SEEDS: &[&str] = &[
    "SELECT * FROM users WHERE id = 42 AND name = 'ada'",
    "insert into orders (id, total) values ($1, 19.99), ($2, -3e-5)",
    "UPDATE jobs SET status = 'done' WHERE id IN (1, 2, 3, 4)",
    "SELECT a FROM b JOIN c ON b.x = c.y -- comment 'secret'\n WHERE z = \"quoted\"",
    "/* hint */ DELETE FROM t WHERE s = E'it''s' OR b = x'ff' OR c = $$dollar$$",
    "WITH q AS (SELECT 1) SELECT * FROM q; DROP TABLE t",
    "SELECT `col` FROM `db`.`t` WHERE v = 0x1F AND d = DATE '2024-01-01'",
    "CALL proc(?, :name, @var, 'x')",
];

fn check_sql(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let sanitized = tracewire_sqlx::sanitize::sanitize(&text);
    if sanitized.chars().count() > tracewire_sqlx::sanitize::MAX_QUERY_TEXT {
        fail(
            "sql",
            input,
            format!("{} characters of query text", sanitized.chars().count()),
        );
    }
    let summary = tracewire_sqlx::sanitize::summary(&text);
    if summary.len() > text.len() + 16 {
        fail(
            "sql",
            input,
            format!("a summary longer than the query: {summary}"),
        );
    }
    // A planted literal never survives after a query that leaves no quote,
    // comment or dollar-quote open (after one that does, the literal's quotes
    // swap roles by the grammar itself).
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => open = None,
            None if matches!(c, '\'' | '"' | '`') => open = Some(c),
            _ => {}
        }
    }
    let neutral = open.is_none()
        && !text.contains('\\')
        && !["--", "/*", "#", "$"].iter().any(|m| text.contains(m));
    if neutral && !text.contains("Xq7Zp9Wv") {
        let planted = format!("{text} WHERE secret = 'Xq7Zp9Wv' AND pin = 8675309");
        let with_secret = tracewire_sqlx::sanitize::sanitize(&planted);
        if with_secret.contains("Xq7Zp9Wv") || with_secret.contains("8675309") {
            fail("sql", input, format!("a literal survived: {with_secret}"));
        }
    }
    // Sanitizing is idempotent: its output has no literal left to replace.
    if sanitized.len() < tracewire_sqlx::sanitize::MAX_QUERY_TEXT / 2 {
        let twice = tracewire_sqlx::sanitize::sanitize(&sanitized);
        if twice != sanitized {
            fail(
                "sql",
                input,
                format!("sanitized twice differs: {sanitized:?} then {twice:?}"),
            );
        }
    }
}

const REDIS_SEEDS: &[&str] = &[
    "SET\nuser:1\n{\"name\":\"ada\"}\nEX\n60",
    "HSET\nh\nf1\nv1\nf2\nv2",
    "MSET\nk1\nv1\nk2\nv2",
    "AUTH\nadmin\nhunter2hunter2",
    "HELLO\n3\nAUTH\nuser\nsecretpassword",
    "EVALSHA\nabc123\n1\nkey\narg",
    "DEL\na\nb\nc",
    "CLIENT\nSETNAME\nworker-1",
    "BLMOVE\nq\nq:processing:w\nRIGHT\nLEFT\n1.0",
    "MIGRATE\nhost\n6379\nkey\n0\n5000\nAUTH\npassword1234",
];

fn check_redis(input: &[u8]) {
    let args: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
    let text = tracewire_redis::query_text(&args);
    if text.len() > 2048 {
        fail(
            "redis",
            input,
            format!("{} bytes of query text", text.len()),
        );
    }
    let name = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
    if matches!(name.as_str(), "AUTH" | "HELLO" | "MIGRATE") {
        for arg in &args[1..] {
            let arg = String::from_utf8_lossy(arg);
            if arg.len() >= 6 && text[name.len()..].contains(arg.as_ref()) {
                fail("redis", input, format!("a credential argument in {text:?}"));
            }
        }
    }
    // A key-then-value command: exactly `NAME key ?`.
    if matches!(
        name.as_str(),
        "SET" | "LPUSH" | "RPUSH" | "PUBLISH" | "APPEND"
    ) && args.len() == 3
    {
        let expected = format!(
            "{} {} ?",
            String::from_utf8_lossy(args[0]),
            String::from_utf8_lossy(args[1])
        );
        if expected.len() <= 2048 && text != expected {
            fail("redis", input, format!("{text:?}, expected {expected:?}"));
        }
    }
}

fn targets() -> Vec<Target> {
    let bytes = |seeds: &[&str]| {
        seeds
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    vec![
        Target {
            name: "traceparent",
            seeds: bytes(&[
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
                "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\t",
            ]),
            alphabet: HEX,
            separators: b"- \t,",
            check: check_traceparent,
        },
        Target {
            name: "tracestate",
            seeds: bytes(&[
                "foo=1,bar=2",
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                "tenant@vendor=x,a-b_c*d/e=value with spaces",
                "k1=v\nk2=v\nk1=again",
                " , ,foo=1 \t,\t",
            ]),
            alphabet: KEY_CHARS,
            separators: b",= \t\n",
            check: check_tracestate,
        },
        Target {
            name: "baggage",
            seeds: bytes(&[
                "user=alice%20smith,order=42;prop=1;flag",
                "url=a%2Cb%3Dc%25,k=%E2%82%AC",
                "a=1\nb=2,c=3",
                "key = value ; p = q , other=x",
                "bad key=1,good=2,=3,k=\"quoted\"",
            ]),
            alphabet: TOKEN_CHARS,
            separators: b",=;% \t\n",
            check: check_baggage,
        },
        Target {
            name: "otel-env",
            seeds: Vec::new(),
            alphabet: PRINTABLE,
            separators: b"",
            check: check_config,
        },
        Target {
            name: "sql",
            seeds: bytes(SQL_SEEDS),
            alphabet: SQL_CHARS,
            separators: b" '\"-/*",
            check: check_sql,
        },
        Target {
            name: "redis",
            seeds: bytes(REDIS_SEEDS),
            alphabet: PRINTABLE,
            separators: b"\n",
            check: check_redis,
        },
    ]
}

fn main() {
    let mut cases: u64 = 1_000_000;
    let mut seed: u64 = 0x7261_6365_7769_7265;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--cases", Some(v)) => cases = v.parse().unwrap_or_else(|_| usage()),
            ("--seed", Some(v)) => seed = v.parse().unwrap_or_else(|_| usage()),
            ("--only", Some(v)) => only = Some(v),
            _ => usage(),
        }
    }
    std::panic::set_hook(Box::new(|info| {
        CURRENT.with(|c| {
            let (target, input) = &*c.borrow();
            eprintln!("fuzz: {target}: PANIC {info}\n  input: {}", escaped(input));
        });
        std::process::exit(101);
    }));
    println!("| target | cases | seconds | cases/s |\n| --- | ---: | ---: | ---: |");
    for target in targets()
        .into_iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == t.name))
    {
        let mut rng = Rng(seed ^ target.name.len() as u64);
        let started = Instant::now();
        for _ in 0..cases {
            let case = if target.name == "otel-env" {
                config_input(&mut rng)
            } else {
                input(&mut rng, &target.seeds, target.alphabet, target.separators)
            };
            CURRENT.with(|c| *c.borrow_mut() = (target.name.to_owned(), case.clone()));
            (target.check)(&case);
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "| {} | {cases} | {seconds:.1} | {:.0} |",
            target.name,
            cases as f64 / seconds.max(1e-9)
        );
    }
    println!("fuzz: no panic, every property held");
}

fn usage() -> ! {
    eprintln!(
        "usage: fuzz [--cases N] [--seed S] [--only traceparent|tracestate|baggage|otel-env|sql|redis]"
    );
    std::process::exit(2);
}
