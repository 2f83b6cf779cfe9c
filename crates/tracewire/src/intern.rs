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

/// `"{a} {b}"` for two `'static` strings (a method and an interned route),
/// found by their addresses: static strings never move, so no hashing of the
/// content and no comparison are needed once the pair is known.
pub(crate) fn intern_static_pair(a: &'static str, b: &'static str) -> Cow<'static, str> {
    let key = (a.as_ptr() as usize, b.as_ptr() as usize, a.len(), b.len());
    if let Some(found) = STATIC_PAIRS.read().ok().and_then(|m| m.get(&key).copied()) {
        return Cow::Borrowed(found);
    }
    let joined = intern_pair(a, b);
    if let (Cow::Borrowed(found), Ok(mut pairs)) = (&joined, STATIC_PAIRS.write()) {
        if pairs.len() < MAX_INTERNED {
            pairs.insert(key, found);
        }
    }
    joined
}

type PairKey = (usize, usize, usize, usize);

static STATIC_PAIRS: LazyLock<
    RwLock<
        std::collections::HashMap<
            PairKey,
            &'static str,
            std::hash::BuildHasherDefault<AddressHasher>,
        >,
    >,
> = LazyLock::new(Default::default);

/// Mixes addresses and lengths with a multiply: keys are trusted and few.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

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
