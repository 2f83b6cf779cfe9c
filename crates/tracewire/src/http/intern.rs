//! Interning of the few, bounded strings the hot path needs as `&'static str`
//! (route templates, `{method} {route}` span names): built once, then reused
//! without allocating. Past a cap (a router with more routes than any real
//! one has) strings are allocated per use instead of interned.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::{LazyLock, RwLock};

use super::method::KnownMethod;

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

/// A route template, interned with its span names (`{method} {route}` for
/// every method index), so that a request finds both with one lookup.
#[derive(Debug)]
pub struct InternedRoute {
    template: &'static str,
    span_names: [&'static str; KnownMethod::COUNT],
}

impl InternedRoute {
    /// The route template (`http.route`).
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The server span name for `method`: `{method} {route}`.
    pub fn span_name(&self, method: KnownMethod) -> &'static str {
        self.span_names[method.index()]
    }

    /// A key that identifies this route for as long as the process runs.
    pub fn key(&'static self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}

/// `route` interned, or `None` past the cap. Found by the address of `route`
/// first: callers that hand in the same allocation every time (axum's
/// `MatchedPath` shares one `Arc<str>` per route) skip hashing the string; the
/// content is compared, so a reused address never returns the wrong route.
pub(crate) fn intern_route(route: &str) -> Option<&'static InternedRoute> {
    let address = route.as_ptr() as usize;
    let hit = ROUTES_BY_ADDRESS
        .read()
        .ok()
        .and_then(|m| m.get(&address).copied())
        .filter(|found| found.template == route);
    if hit.is_some() {
        return hit;
    }
    let found = {
        let by_template = ROUTES.read().ok()?;
        by_template.get(route).copied()
    };
    let found = match found {
        Some(found) => found,
        None => {
            let mut by_template = ROUTES.write().ok()?;
            match by_template.get(route).copied() {
                Some(found) => found,
                None if by_template.len() >= MAX_INTERNED => return None,
                None => {
                    let Cow::Borrowed(template) = intern(route) else {
                        return None;
                    };
                    let span_names = std::array::from_fn(|index| {
                        let prefix = KnownMethod::from_index(index).span_prefix();
                        match intern(&format!("{prefix} {template}")) {
                            Cow::Borrowed(name) => name,
                            Cow::Owned(name) => Box::leak(name.into_boxed_str()),
                        }
                    });
                    let entry: &'static InternedRoute = Box::leak(Box::new(InternedRoute {
                        template,
                        span_names,
                    }));
                    by_template.insert(template, entry);
                    entry
                }
            }
        }
    };
    // Addresses that change per request (nested routers build the path for
    // each one) would fill this map: it stops growing at the cap.
    if let Ok(mut by_address) = ROUTES_BY_ADDRESS.write() {
        if by_address.len() < MAX_INTERNED {
            by_address.insert(address, found);
        }
    }
    Some(found)
}

static ROUTES: LazyLock<RwLock<HashMap<&'static str, &'static InternedRoute>>> =
    LazyLock::new(Default::default);

static ROUTES_BY_ADDRESS: LazyLock<
    RwLock<
        HashMap<usize, &'static InternedRoute, BuildHasherDefault<crate::hashers::SmallKeyHasher>>,
    >,
> = LazyLock::new(Default::default);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_found_by_content_whatever_its_address() {
        let first: String = "/interned/{id}".to_owned();
        let second: String = "/interned/{id}".to_owned();
        let a = intern_route(&first).expect("interned");
        let b = intern_route(&second).expect("interned");
        assert!(std::ptr::eq(a, b), "one entry per template");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.template(), "/interned/{id}");
        // Found again through the address of the first allocation.
        assert!(std::ptr::eq(intern_route(&first).expect("interned"), a));
    }

    #[test]
    fn a_reused_address_never_returns_another_route() {
        let mut path = String::from("/reused/a");
        let a = intern_route(&path).expect("interned");
        // Same allocation, new content.
        path.replace_range(8.., "b");
        let b = intern_route(&path).expect("interned");
        assert_eq!(a.template(), "/reused/a");
        assert_eq!(b.template(), "/reused/b");
        assert_ne!(a.key(), b.key());
    }

    #[test]
    fn span_names_are_method_then_route() {
        let route = intern_route("/names/{id}").expect("interned");
        assert_eq!(route.span_name(KnownMethod::of("GET")), "GET /names/{id}");
        assert_eq!(
            route.span_name(KnownMethod::of("QUERY")),
            "QUERY /names/{id}"
        );
        assert_eq!(route.span_name(KnownMethod::Other), "HTTP /names/{id}");
    }
}
