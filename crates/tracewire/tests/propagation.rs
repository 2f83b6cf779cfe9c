//! Propagation, rule by rule (conventions §6; W3C Trace Context Level 2,
//! W3C Baggage), asserted on the header bytes that would leave the process.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use proptest::prelude::*;
use tracewire::propagation::{
    B3Encoding, B3Propagator, HeaderExtractor, HeaderInjector, PropagatorKind, Traceparent,
    composite, decode_baggage_value, encode_baggage_value, parse_tracestate,
};

const TRACE_ID: &str = "12345678901234567890123456789012";
const PARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn w3c() -> opentelemetry::propagation::TextMapCompositePropagator {
    composite(&[PropagatorKind::TraceContext, PropagatorKind::Baggage])
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// Extracts, then injects the same context: what a pure forwarder sends.
fn forward(pairs: &[(&str, &str)]) -> HeaderMap {
    let propagator = w3c();
    let cx = propagator.extract(&HeaderExtractor(&headers(pairs)));
    let mut out = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    out
}

fn get<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).map(|v| v.to_str().unwrap())
}

/// Extracts, starts a server span under the context with a real SDK tracer,
/// injects its context: what a service sends downstream.
fn through_service(pairs: &[(&str, &str)], sampler: Sampler) -> (HeaderMap, String) {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let tracer = provider.tracer("test");
    let propagator = w3c();
    let parent = propagator.extract(&HeaderExtractor(&headers(pairs)));
    let span = tracer.start_with_context("server", &parent);
    let span_id = span.span_context().span_id().to_string();
    let cx = parent.with_span(span);
    let mut out = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    (out, span_id)
}

fn assert_restarted(pairs: &[(&str, &str)]) {
    let out = forward(pairs);
    assert_eq!(
        get(&out, "traceparent"),
        None,
        "invalid input must not be propagated: {pairs:?}"
    );
    assert_eq!(get(&out, "tracestate"), None);
}

// ---- traceparent ----

#[test]
fn valid_traceparent_is_continued_with_a_new_parent_id() {
    let (out, span_id) = through_service(
        &[("traceparent", PARENT)],
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    );
    assert_eq!(
        get(&out, "traceparent").unwrap(),
        format!("00-{TRACE_ID}-{span_id}-01")
    );
    assert_ne!(span_id, "1234567890123456");
}

#[test]
fn header_name_is_case_insensitive() {
    let propagator = w3c();
    let mut map = HeaderMap::new();
    map.insert("TraceParent", PARENT.parse().unwrap());
    let cx = propagator.extract(&HeaderExtractor(&map));
    assert_eq!(cx.span().span_context().trace_id().to_string(), TRACE_ID);
}

#[test]
fn uppercase_hex_is_invalid() {
    assert_restarted(&[(
        "traceparent",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
    )]);
}

#[test]
fn version_ff_is_invalid() {
    assert_restarted(&[(
        "traceparent",
        "ff-12345678901234567890123456789012-1234567890123456-01",
    )]);
}

#[test]
fn version_00_with_trailing_data_is_invalid() {
    assert_restarted(&[(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-01.",
    )]);
    assert_restarted(&[(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    )]);
}

#[test]
fn future_version_is_read_at_v00_positions_and_sent_as_00() {
    for value in [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ] {
        let out = forward(&[("traceparent", value)]);
        assert_eq!(get(&out, "traceparent"), Some(PARENT), "{value}");
    }
    assert_restarted(&[(
        "traceparent",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
    )]);
    assert_restarted(&[(
        "traceparent",
        "cc-12345678901234567890123456789012-1234567890123456",
    )]);
}

#[test]
fn field_lengths_are_strict() {
    for bad in [
        "0-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-12345678901234567890123456789012-1234567890123456-001",
    ] {
        assert_restarted(&[("traceparent", bad)]);
    }
}

#[test]
fn illegal_characters_and_zero_ids_are_invalid() {
    for bad in [
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012_1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "",
    ] {
        assert_restarted(&[("traceparent", bad)]);
    }
}

#[test]
fn surrounding_whitespace_is_ignored() {
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_eq!(
            get(&forward(&[("traceparent", value)]), "traceparent"),
            Some(PARENT)
        );
    }
}

#[test]
fn duplicated_traceparent_starts_a_new_trace() {
    let (out, _) = through_service(
        &[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            ("traceparent", PARENT),
        ],
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    );
    let sent = get(&out, "traceparent").unwrap();
    assert!(!sent.contains("1234567890123456789012345678901"), "{sent}");
}

#[test]
fn unknown_flag_bits_are_cleared_and_known_ones_kept() {
    let out = forward(&[(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-ff",
    )]);
    assert_eq!(
        get(&out, "traceparent"),
        Some("00-12345678901234567890123456789012-1234567890123456-03")
    );
}

#[test]
fn random_flag_survives_a_sampled_hop() {
    let (out, span_id) = through_service(
        &[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-03",
        )],
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    );
    assert_eq!(
        get(&out, "traceparent").unwrap(),
        format!("00-{TRACE_ID}-{span_id}-03")
    );
}

#[test]
fn random_flag_survives_an_unsampled_hop() {
    let (out, span_id) = through_service(
        &[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-02",
        )],
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    );
    assert_eq!(
        get(&out, "traceparent").unwrap(),
        format!("00-{TRACE_ID}-{span_id}-02")
    );
}

#[test]
fn parse_and_format_agree() {
    let parsed = Traceparent::parse(PARENT).unwrap();
    assert_eq!(parsed.format(), PARENT);
    assert_eq!(parsed.flags, 1);
}

// ---- tracestate ----

#[test]
fn tracestate_lines_are_combined_in_order() {
    let out = forward(&[
        ("traceparent", PARENT),
        ("tracestate", "foo=1,bar=2"),
        ("tracestate", "rojo=1,congo=2"),
        ("tracestate", "baz=3"),
    ]);
    assert_eq!(
        get(&out, "tracestate"),
        Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
    );
}

#[test]
fn empty_tracestate_is_never_sent() {
    assert_eq!(
        get(
            &forward(&[("traceparent", PARENT), ("tracestate", "")]),
            "tracestate"
        ),
        None
    );
    assert_eq!(
        get(
            &forward(&[
                ("traceparent", PARENT),
                ("tracestate", ""),
                ("tracestate", "foo=1")
            ]),
            "tracestate"
        ),
        Some("foo=1")
    );
    assert_eq!(
        get(
            &forward(&[("traceparent", PARENT), ("tracestate", " , ,")]),
            "tracestate"
        ),
        None
    );
}

#[test]
fn tracestate_without_traceparent_is_dropped() {
    let out = forward(&[("tracestate", "foo=1")]);
    assert_eq!(get(&out, "tracestate"), None);
}

#[test]
fn thirty_two_members_pass_thirty_three_are_discarded() {
    let members = |n: usize| {
        (1..=n)
            .map(|i| format!("bar{i:02}={i:02}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let out = forward(&[("traceparent", PARENT), ("tracestate", &members(32))]);
    assert_eq!(get(&out, "tracestate"), Some(members(32).as_str()));
    let out = forward(&[("traceparent", PARENT), ("tracestate", &members(33))]);
    assert_eq!(get(&out, "tracestate"), None);
    assert_eq!(
        get(&out, "traceparent"),
        Some(PARENT),
        "a bad tracestate never invalidates traceparent"
    );
}

#[test]
fn a_repeated_key_keeps_its_first_occurrence() {
    // Level 2: the header is still inherited; the first occurrence wins.
    for (lines, kept) in [
        (vec!["foo=1,foo=1"], "foo=1"),
        (vec!["foo=1,foo=2"], "foo=1"),
        (vec!["foo=1", "foo=2"], "foo=1"),
        (
            vec!["foo=1,bar=2,foo=3", "baz=4,bar=5"],
            "foo=1,bar=2,baz=4",
        ),
    ] {
        let mut pairs = vec![("traceparent", PARENT)];
        pairs.extend(lines.iter().map(|l| ("tracestate", *l)));
        let out = forward(&pairs);
        assert_eq!(get(&out, "tracestate"), Some(kept), "{lines:?}");
        assert_eq!(get(&out, "traceparent"), Some(PARENT));
    }
}

#[test]
fn repeated_keys_do_not_count_towards_the_member_limit() {
    let mut line: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
    line.push("k1=again".to_owned());
    let line = line.join(",");
    let out = forward(&[("traceparent", PARENT), ("tracestate", &line)]);
    let expected: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
    assert_eq!(get(&out, "tracestate"), Some(expected.join(",").as_str()));
}

#[test]
fn invalid_keys_discard_the_tracestate() {
    for bad in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "@foo=1,bar=2",
        "_foo=1,bar=2",
        "-foo=1",
        "foo@BAR=1",
        "fo\u{e9}=1",
        "=1",
    ] {
        assert_eq!(
            get(
                &forward(&[("traceparent", PARENT), ("tracestate", bad)]),
                "tracestate"
            ),
            None,
            "{bad}"
        );
    }
}

#[test]
fn level_two_keys_may_carry_at_signs_anywhere_after_the_first_character() {
    // Level 1's `tenant@system` form had one `@` and per-part limits; Level 2
    // has one key grammar with `@` among the continuation characters.
    for key in ["foo@", "foo@@bar", "foo@bar@baz", "0@1", "a/b*c@d_e-f"] {
        let line = format!("{key}=1,bar=2");
        let out = forward(&[("traceparent", PARENT), ("tracestate", &line)]);
        assert_eq!(get(&out, "tracestate"), Some(line.as_str()), "{key}");
    }
}

#[test]
fn key_length_limits() {
    let check = |key: String, ok: bool| {
        let line = format!("{key}=1");
        let out = forward(&[
            ("traceparent", PARENT),
            ("tracestate", "foo=1"),
            ("tracestate", &line),
        ]);
        assert_eq!(
            get(&out, "tracestate").is_some(),
            ok,
            "key of {} chars",
            key.len()
        );
    };
    check("z".repeat(256), true);
    check("z".repeat(257), false);
    // No per-part limits at Level 2: only the key's 256 characters.
    check(format!("{}@{}", "t".repeat(241), "v".repeat(14)), true);
    check(format!("{}@v", "t".repeat(242)), true);
    check(format!("t@{}", "v".repeat(15)), true);
    check(format!("{}@{}", "t".repeat(200), "v".repeat(55)), true);
    check(format!("{}@{}", "t".repeat(200), "v".repeat(56)), false);
}

#[test]
fn every_allowed_character_passes() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x7e)
        .filter(|&c| c != b',' && c != b'=')
        .map(char::from)
        .collect();
    let value = value.trim_start().to_owned();
    for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let line = format!("{key}={value}");
        let out = forward(&[("traceparent", PARENT), ("tracestate", &line)]);
        assert_eq!(get(&out, "tracestate"), Some(line.as_str()));
    }
}

#[test]
fn optional_whitespace_around_members_is_dropped() {
    let out = forward(&[
        ("traceparent", PARENT),
        ("tracestate", "foo=1 \t , \t bar=2, \t baz=3"),
    ]);
    assert_eq!(get(&out, "tracestate"), Some("foo=1,bar=2,baz=3"));
    let out = forward(&[("traceparent", PARENT), ("tracestate", "\t foo=1 \t")]);
    assert_eq!(get(&out, "tracestate"), Some("foo=1"));
}

#[test]
fn bad_values_discard_the_tracestate() {
    for bad in ["foo=", "foo=a,b=", "foo=\u{7f}", "foo=a=b"] {
        assert_eq!(parse_tracestate([bad]), None, "{bad:?}");
    }
}

#[test]
fn oversized_tracestate_drops_long_members_first() {
    let long = format!("long={}", "x".repeat(200));
    let mut members = vec![long.clone()];
    members.extend((0..20).map(|i| format!("k{i:02}={}", "v".repeat(20))));
    let line = members.join(",");
    assert!(line.len() > 512);
    let kept = parse_tracestate([line.as_str()]).unwrap();
    assert!(
        kept.iter().all(|(k, _)| k != "long"),
        "the member over 128 chars goes first"
    );
    let total: usize = kept
        .iter()
        .map(|(k, v)| k.len() + v.len() + 2)
        .sum::<usize>()
        - 1;
    assert!(total <= 512);
    assert_eq!(kept.len(), 20);
}

#[test]
fn tracestate_follows_the_trace_through_a_service() {
    let (out, _) = through_service(
        &[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1,bar=2"),
        ],
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    );
    assert_eq!(get(&out, "tracestate"), Some("foo=1,bar=2"));
    assert!(
        get(&out, "traceparent").unwrap().ends_with("-00"),
        "the sampled flag follows the parent"
    );
}

// ---- baggage ----

#[test]
fn baggage_values_are_percent_decoded_and_re_encoded() {
    let propagator = w3c();
    let cx = propagator.extract(&HeaderExtractor(&headers(&[(
        "baggage",
        "user=alice%20smith, order = 42 ;prop=1,url=a%2Cb%3Dc%25",
    )])));
    let baggage = cx.baggage();
    assert_eq!(baggage.get("user").map(|v| v.as_str()), Some("alice smith"));
    assert_eq!(baggage.get("order").map(|v| v.as_str()), Some("42"));
    assert_eq!(
        baggage.get_with_metadata("order").map(|(_, m)| m.as_str()),
        Some("prop=1")
    );
    assert_eq!(baggage.get("url").map(|v| v.as_str()), Some("a,b=c%"));

    let mut out = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    let mut sent: Vec<&str> = get(&out, "baggage").unwrap().split(',').collect();
    sent.sort();
    assert_eq!(
        sent,
        ["order=42;prop=1", "url=a%2Cb=c%25", "user=alice%20smith"]
    );
}

#[test]
fn invalid_utf8_becomes_replacement_character() {
    assert_eq!(decode_baggage_value("a%FFb"), "a\u{FFFD}b");
}

#[test]
fn malformed_members_are_skipped_alone() {
    let cx = w3c().extract(&HeaderExtractor(&headers(&[(
        "baggage",
        "good=1,bad key=2,=3,novalue,also=ok",
    )])));
    let mut keys: Vec<String> = cx.baggage().iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["also", "good"]);
}

#[test]
fn baggage_lines_combine_and_cap_at_64_members() {
    let first = (0..40)
        .map(|i| format!("a{i}=1"))
        .collect::<Vec<_>>()
        .join(",");
    let second = (0..40)
        .map(|i| format!("b{i}=1"))
        .collect::<Vec<_>>()
        .join(",");
    let cx = w3c().extract(&HeaderExtractor(&headers(&[
        ("baggage", &first),
        ("baggage", &second),
    ])));
    assert_eq!(cx.baggage().len(), 64);
    assert!(cx.baggage().get("a0").is_some() && cx.baggage().get("b23").is_some());
}

/// Extracts from header lines given as raw bytes (obs-text included).
fn extract_raw(pairs: &[(&str, &[u8])]) -> Context {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    w3c().extract(&HeaderExtractor(&map))
}

fn baggage_keys(cx: &Context) -> Vec<String> {
    let mut keys: Vec<String> = cx.baggage().iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    keys
}

#[test]
fn a_member_with_raw_non_ascii_bytes_is_skipped_alone() {
    // Latin-1 (not UTF-8), UTF-8 and a non-ASCII key: each member alone goes.
    for line in [
        &b"user=alice,city=M\xfcnchen,order=42"[..],
        "user=alice,city=München,order=42".as_bytes(),
        "user=alice,stra\u{df}e=1,order=42".as_bytes(),
        &b"user=alice,\xff\xfe,order=42"[..],
    ] {
        let cx = extract_raw(&[("baggage", line)]);
        assert_eq!(
            baggage_keys(&cx),
            ["order", "user"],
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    // On a second line, too; the first line is unaffected.
    let cx = extract_raw(&[("baggage", b"a=1"), ("baggage", b"b=\xe9,c=3")]);
    assert_eq!(baggage_keys(&cx), ["a", "c"]);
}

#[test]
fn raw_non_ascii_bytes_invalidate_trace_context_headers() {
    let parent = PARENT.as_bytes();
    // In tracestate: the whole tracestate goes, traceparent stays.
    let cx = extract_raw(&[("traceparent", parent), ("tracestate", b"foo=1,bar=\xe9")]);
    let mut out = HeaderMap::new();
    w3c().inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(get(&out, "traceparent"), Some(PARENT));
    assert_eq!(get(&out, "tracestate"), None);
    // In traceparent: no parent.
    let mut bad = parent.to_vec();
    bad[40] = 0xe9;
    let cx = extract_raw(&[("traceparent", &bad)]);
    assert!(!cx.span().span_context().is_valid());
    let mut bad_with_comma = parent.to_vec();
    bad_with_comma.extend_from_slice(b",\xe9");
    let cx = extract_raw(&[("traceparent", &bad_with_comma)]);
    assert!(!cx.span().span_context().is_valid());
}

#[test]
fn a_member_too_large_to_send_is_dropped_alone_and_no_empty_header_goes_out() {
    use opentelemetry::KeyValue;
    // Decoded U+FFFD re-encodes to 9 bytes: 1,000 of them no longer fit.
    let big = "\u{FFFD}".repeat(1000);
    for (members, expected) in [
        (vec![KeyValue::new("big", big.clone())], None),
        (
            vec![
                KeyValue::new("big", big.clone()),
                KeyValue::new("small", "1"),
            ],
            Some("small=1"),
        ),
    ] {
        let cx = Context::new().with_baggage(members);
        let mut out = HeaderMap::new();
        w3c().inject_context(&cx, &mut HeaderInjector(&mut out));
        assert_eq!(get(&out, "baggage"), expected);
    }
}

#[test]
fn no_baggage_no_header() {
    let out = forward(&[("traceparent", PARENT)]);
    assert!(out.get("baggage").is_none());
}

// ---- B3 ----

#[test]
fn b3_single_and_multi_round_trip() {
    let single = B3Propagator::new(B3Encoding::SingleHeader);
    let multi = B3Propagator::new(B3Encoding::MultipleHeader);
    let cx = single.extract(&HeaderExtractor(&headers(&[(
        "b3",
        "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
    )])));
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
    assert!(cx.span().span_context().is_sampled());
    let mut out = HeaderMap::new();
    multi.inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(
        get(&out, "x-b3-traceid"),
        Some("80f198ee56343ba864fe8b2a57d3eff7")
    );
    assert_eq!(get(&out, "x-b3-spanid"), Some("e457b5a2e4d86bd1"));
    assert_eq!(get(&out, "x-b3-sampled"), Some("1"));
    assert!(out.get("x-b3-parentspanid").is_none());

    let cx = multi.extract(&HeaderExtractor(&headers(&[
        ("X-B3-TraceId", "64fe8b2a57d3eff7"),
        ("X-B3-SpanId", "e457b5a2e4d86bd1"),
        ("X-B3-Flags", "1"),
    ])));
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        "000000000000000064fe8b2a57d3eff7"
    );
    assert!(
        cx.span().span_context().is_sampled(),
        "debug implies sampled"
    );
    let mut out = HeaderMap::new();
    single.inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(
        get(&out, "b3"),
        Some("000000000000000064fe8b2a57d3eff7-e457b5a2e4d86bd1-1")
    );
}

#[test]
fn composite_keeps_a_valid_context_when_a_later_member_fails() {
    let propagator = composite(&[PropagatorKind::B3, PropagatorKind::TraceContext]);
    let cx = propagator.extract(&HeaderExtractor(&headers(&[
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ("traceparent", "garbage"),
    ])));
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
}

// ---- helpers and properties ----

#[test]
fn helpers_work_without_any_global_setup() {
    let mut incoming = HeaderMap::new();
    incoming.insert("traceparent", PARENT.parse().unwrap());
    let cx = tracewire::propagation::extract(&incoming);
    let mut out = HeaderMap::new();
    tracewire::propagation::inject(&cx, &mut out);
    assert_eq!(get(&out, "traceparent"), Some(PARENT));

    let mut message: std::collections::HashMap<String, String> = Default::default();
    tracewire::propagation::inject_into(&cx, &mut message);
    assert_eq!(message.get("traceparent").map(String::as_str), Some(PARENT));
    let back = tracewire::propagation::extract_from(&message);
    assert_eq!(back.span().span_context().trace_id().to_string(), TRACE_ID);
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..6)) {
        let mut map = HeaderMap::new();
        for (i, v) in values.iter().enumerate() {
            if let Ok(value) = http::HeaderValue::from_bytes(v) {
                let name = ["traceparent", "tracestate", "baggage", "b3", "x-b3-traceid", "x-b3-spanid"][i % 6];
                map.append(name, value);
            }
        }
        let all = composite(&[PropagatorKind::TraceContext, PropagatorKind::Baggage, PropagatorKind::B3]);
        let cx = all.extract(&HeaderExtractor(&map));
        let mut out = HeaderMap::new();
        all.inject_context(&cx, &mut HeaderInjector(&mut out));
        let _ = Context::new();
    }

    #[test]
    fn arbitrary_traceparent_strings_never_panic(s in "\\PC{0,80}") {
        if let Some(tp) = Traceparent::parse(&s) {
            prop_assert_eq!(Traceparent::parse(&tp.format()), Some(tp));
        }
    }

    #[test]
    fn tracestate_output_parses_to_itself(s in "[a-z0-9=, @_*/-]{0,200}") {
        if let Some(members) = parse_tracestate([s.as_str()]) {
            let joined = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            prop_assert_eq!(parse_tracestate([joined.as_str()]), Some(members));
        }
    }

    #[test]
    fn any_baggage_value_survives_a_round_trip(value in any::<String>()) {
        prop_assert_eq!(decode_baggage_value(&encode_baggage_value(&value)), value);
    }
}

#[test]
fn sdk_tracer_sanity() {
    // The through_service helper really produces child spans of the remote parent.
    let provider = SdkTracerProvider::builder().build();
    let span = provider.tracer("t").start("x");
    assert!(span.span_context().is_valid());
}
