//! Reading `OTEL_*` variables by the specification's parsing rules.
//!
//! An empty value is unset; booleans are true only for case-insensitive
//! `true`; enums are case-insensitive; durations are integer milliseconds. A
//! value that breaks these rules produces one warning naming the variable and
//! the value, and the documented default applies.

use std::time::Duration;

/// A source of environment variables: the process environment, or a map in tests.
pub(crate) struct EnvReader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
}

impl<'a> EnvReader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn into_warnings(self) -> Vec<String> {
        self.warnings
    }

    pub(crate) fn warn(&mut self, name: &str, value: &str, default: impl std::fmt::Display) {
        self.warnings.push(format!(
            "invalid value {} for {name}; using {default}",
            shown(value)
        ));
    }

    pub(crate) fn note(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// The value, trimmed; empty counts as unset.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.get(name) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.warn(name, &v, false);
                false
            }
        }
    }

    pub(crate) fn number<T: std::str::FromStr + std::fmt::Display>(
        &mut self,
        name: &str,
        default: T,
    ) -> T {
        match self.get(name) {
            None => default,
            Some(v) => match v.parse() {
                Ok(n) => n,
                Err(_) => {
                    self.warn(name, &v, default.to_string());
                    default
                }
            },
        }
    }

    /// A number that must be at least 1.
    pub(crate) fn positive(&mut self, name: &str, default: usize) -> usize {
        match self.get(name) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    self.warn(name, &v, default);
                    default
                }
            },
        }
    }

    /// An optional limit (`None` = no limit).
    pub(crate) fn limit(&mut self, name: &str) -> Option<usize> {
        let v = self.get(name)?;
        match v.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.warn(name, &v, "no limit");
                None
            }
        }
    }

    /// Integer milliseconds; negative or unparsable warns and uses the default;
    /// `0` means "no limit" when `zero_is_unlimited`.
    pub(crate) fn millis(
        &mut self,
        name: &str,
        default: Duration,
        zero_is_unlimited: bool,
    ) -> Duration {
        let Some(v) = self.get(name) else {
            return default;
        };
        match v.parse::<i64>() {
            Ok(0) if zero_is_unlimited => UNLIMITED,
            Ok(ms) if ms > 0 => Duration::from_millis(ms as u64),
            _ => {
                self.warn(name, &v, format_args!("{}ms", default.as_millis()));
                default
            }
        }
    }

    /// A comma list of case-insensitive names, deduplicated in order. Unknown
    /// entries warn and are skipped; `none` alone means the empty list.
    pub(crate) fn list<T: Copy + PartialEq>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let raw = self.get(name)?;
        let mut out = Vec::new();
        let mut unsupported = Vec::new();
        for item in raw
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
        {
            if item == "none" {
                continue;
            }
            match parse(&item) {
                Some(v) if !out.contains(&v) => out.push(v),
                Some(_) => {}
                None => unsupported.push(item),
            }
        }
        // One warning per variable, however many items it lists.
        if !unsupported.is_empty() {
            self.note(format!(
                "unsupported value{} {} in {name}; skipped",
                if unsupported.len() == 1 { "" } else { "s" },
                shown(&unsupported.join(","))
            ));
        }
        Some(out)
    }
}

/// What "no limit" means for a timeout: long enough to never fire in practice,
/// short enough not to overflow timers.
pub(crate) const UNLIMITED: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses `k1=v1,k2=v2` with percent-decoded keys and values. `None` when any
/// entry is malformed (the specification drops the whole variable).
pub(crate) fn parse_key_values(raw: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = entry.split_once('=')?;
        let key = percent_decode(k.trim())?;
        if key.is_empty() {
            return None;
        }
        out.push((key, percent_decode(v.trim())?));
    }
    Some(out)
}

/// Strict percent-decoding: a bad escape or invalid UTF-8 is an error.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A value as a warning shows it: quoted, and cut to its first 64 characters
/// (a variable can be arbitrarily long; the warning stays one short line).
pub(crate) fn shown(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}
