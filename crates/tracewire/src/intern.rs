//! Interning of the few, bounded strings the hot path needs as `&'static str`
//! (route templates, `{method} {route}` span names): built once, then reused
//! without allocating. Past a cap (a router with more routes than any real
//! one has) strings are allocated per use instead of interned.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{LazyLock, RwLock};

const MAX_INTERNED: usize = 10_000;

static STRINGS: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);

/// `s` as a `&'static str` when interned.
pub(crate) fn intern(s: &str) -> Cow<'static, str> {
    if let Some(found) = STRINGS.read().ok().and_then(|set| set.get(s).copied()) {
        return Cow::Borrowed(found);
    }
    let Ok(mut set) = STRINGS.write() else {
        return Cow::Owned(s.to_owned());
    };
    if let Some(found) = set.get(s).copied() {
        return Cow::Borrowed(found);
    }
    if set.len() >= MAX_INTERNED {
        return Cow::Owned(s.to_owned());
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    Cow::Borrowed(leaked)
}

/// `s` interned, found by the address of `s` first: callers that hand in the
/// same allocation every time (axum's `MatchedPath` shares one `Arc<str>` per
/// route) skip hashing the string. The content is compared, so a reused
/// address never returns the wrong string.
pub(crate) fn intern_by_address(s: &str) -> Cow<'static, str> {
    let address = s.as_ptr() as usize;
    let hit = BY_ADDRESS
        .read()
        .ok()
        .and_then(|m| m.get(&address).copied())
        .filter(|found| *found == s);
    if let Some(found) = hit {
        return Cow::Borrowed(found);
    }
    let interned = intern(s);
    if let (Cow::Borrowed(found), Ok(mut by_address)) = (&interned, BY_ADDRESS.write()) {
        if by_address.len() < MAX_INTERNED {
            by_address.insert(address, found);
        }
    }
    interned
}

static BY_ADDRESS: LazyLock<RwLock<std::collections::HashMap<usize, &'static str>>> =
    LazyLock::new(Default::default);

/// `"{a} {b}"` interned, found without building the string once known.
pub(crate) fn intern_pair(a: &str, b: &str) -> Cow<'static, str> {
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (a, b).hash(&mut h);
        h.finish()
    };
    let matches =
        |s: &&'static str| s.len() == a.len() + 1 + b.len() && s.starts_with(a) && s.ends_with(b);
    if let Some(found) = PAIRS.read().ok().and_then(|m| {
        m.get(&key)
            .and_then(|v| v.iter().copied().find(|s| matches(s)))
    }) {
        return Cow::Borrowed(found);
    }
    let joined = format!("{a} {b}");
    match intern(&joined) {
        Cow::Borrowed(s) => {
            if let Ok(mut pairs) = PAIRS.write() {
                pairs.entry(key).or_default().push(s);
            }
            Cow::Borrowed(s)
        }
        owned => owned,
    }
}

static PAIRS: LazyLock<RwLock<std::collections::HashMap<u64, Vec<&'static str>>>> =
    LazyLock::new(Default::default);
