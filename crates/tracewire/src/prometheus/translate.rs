//! OpenTelemetry → Prometheus names (spec "Prometheus and OpenMetrics Compatibility").

/// Replaces characters outside `[a-zA-Z0-9_:]` with `_`, collapses runs of
/// `_`, and keeps a leading digit from starting the name.
pub(crate) fn metric_name(name: &str) -> String {
    sanitize(name, true)
}

/// Label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn label_name(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(name: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The unit word for a UCUM unit; `None` for dimensionless (`1`) and for
/// annotations only (`{request}`).
pub(crate) fn unit_word(unit: &str) -> Option<String> {
    // Annotations in braces carry no unit.
    let mut plain = String::with_capacity(unit.len());
    let mut depth = 0u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.trim();
    if plain.is_empty() || plain == "1" {
        return None;
    }
    let word = match plain.split_once('/') {
        Some((num, den)) => format!("{}_per_{}", single_unit(num), per_unit(den)),
        None => single_unit(plain),
    };
    let word = label_name(&word);
    (!word.trim_matches('_').is_empty()).then(|| word.trim_matches('_').to_owned())
}

fn single_unit(u: &str) -> String {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "kBy" | "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// The denominator of a rate is singular: `m/s` → `meters_per_second`.
fn per_unit(u: &str) -> String {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => return single_unit(other),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_translation_rules() {
        assert_eq!(
            metric_name("http.server.request.duration"),
            "http_server_request_duration"
        );
        assert_eq!(metric_name("a..b--c"), "a_b_c");
        assert_eq!(metric_name("1st.metric"), "_1st_metric");
        assert_eq!(
            label_name("http.response.status_code"),
            "http_response_status_code"
        );
        assert_eq!(label_name("ns:key"), "ns_key");
    }

    #[test]
    fn units_become_words() {
        assert_eq!(unit_word("s").as_deref(), Some("seconds"));
        assert_eq!(unit_word("By").as_deref(), Some("bytes"));
        assert_eq!(unit_word("{request}"), None);
        assert_eq!(unit_word("1"), None);
        assert_eq!(unit_word("m/s").as_deref(), Some("meters_per_second"));
        assert_eq!(unit_word("By/s").as_deref(), Some("bytes_per_second"));
        assert_eq!(unit_word("{packet}/s").as_deref(), Some("per_second"));
    }
}
