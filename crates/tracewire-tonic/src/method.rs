//! The called method: `rpc.method` from the request path, and which methods
//! a server knows.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{LazyLock, RwLock};

/// `rpc.method` when the method is not known.
pub(crate) const OTHER: &str = "_OTHER";

/// Longest method name taken from a path; longer ones are `_OTHER`.
const MAX_METHOD_LEN: usize = 256;

/// How many methods a server learns (no real server has more; past this,
/// names are allocated per call rather than kept).
const MAX_LEARNED: usize = 1024;

/// `package.Service/Method` from a gRPC request path `/package.Service/Method`,
/// when it is one: a service and a method, non-empty, of name characters only.
pub(crate) fn method_of_path(path: &str) -> Option<&str> {
    let full = path.strip_prefix('/')?;
    if full.len() > MAX_METHOD_LEN {
        return None;
    }
    let (service, method) = full.split_once('/')?;
    let name_chars = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    (name_chars(service) && name_chars(method)).then_some(full)
}

/// The service part of `package.Service/Method`.
pub(crate) fn service_of(method: &str) -> &str {
    method
        .split_once('/')
        .map_or(method, |(service, _)| service)
}

/// Method names kept for the process's lifetime, shared by every layer, so
/// that a known method's span name and attribute are not allocated per call.
static INTERNED: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);

/// `method` as a `&'static str`, or `None` past the bound. Only methods a
/// server knows come here: names a client made up never fill it.
fn intern(method: &str) -> Option<&'static str> {
    if let Some(found) = INTERNED.read().ok()?.get(method).copied() {
        return Some(found);
    }
    let mut set = INTERNED.write().ok()?;
    if let Some(found) = set.get(method).copied() {
        return Some(found);
    }
    if set.len() >= MAX_LEARNED {
        return None;
    }
    let leaked: &'static str = Box::leak(method.to_owned().into_boxed_str());
    set.insert(leaked);
    Some(leaked)
}

/// Which methods a server knows.
#[derive(Debug)]
pub(crate) enum Recognized {
    /// Exactly these (configured).
    Listed(HashSet<Box<str>>),
    /// Any well-formed method the server does not answer `UNIMPLEMENTED`
    /// (what tonic answers for a method no service has), learned as calls
    /// are answered.
    Answered(RwLock<HashSet<&'static str>>),
}

impl Recognized {
    pub(crate) fn answered() -> Self {
        Recognized::Answered(RwLock::new(HashSet::new()))
    }

    pub(crate) fn listed<I: IntoIterator<Item = S>, S: AsRef<str>>(methods: I) -> Self {
        Recognized::Listed(
            methods
                .into_iter()
                .map(|m| m.as_ref().trim_start_matches('/').into())
                .collect(),
        )
    }

    /// What a call to `method` is known as when it starts.
    pub(crate) fn at_start(&self, method: Option<&str>) -> Known {
        let Some(method) = method else {
            return Known::Other;
        };
        match self {
            Recognized::Listed(set) if set.contains(method) => Known::Yes(
                intern(method).map_or_else(|| Cow::Owned(method.to_owned()), Cow::Borrowed),
            ),
            Recognized::Listed(_) => Known::Other,
            Recognized::Answered(learned) => {
                match learned.read().ok().and_then(|set| set.get(method).copied()) {
                    Some(found) => Known::Yes(Cow::Borrowed(found)),
                    None => Known::Unless(method.to_owned()),
                }
            }
        }
    }

    /// Learns a method the server answered with something other than
    /// `UNIMPLEMENTED` (bounded).
    pub(crate) fn learn(&self, method: &str) {
        if let Recognized::Answered(learned) = self {
            let Some(interned) = intern(method) else {
                return;
            };
            if let Ok(mut set) = learned.write() {
                set.insert(interned);
            }
        }
    }
}

/// A call's method as far as the server knows it.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// Known: its name.
    Yes(Cow<'static, str>),
    /// Known unless the server answers `UNIMPLEMENTED`.
    Unless(String),
    /// Not known (or not a method at all).
    Other,
}

impl Known {
    /// A method a client calls: its stubs were generated for it.
    pub(crate) fn called(method: Option<&str>) -> Known {
        match method {
            Some(method) => Known::Yes(
                intern(method).map_or_else(|| Cow::Owned(method.to_owned()), Cow::Borrowed),
            ),
            None => Known::Other,
        }
    }

    /// The name the span starts with and `rpc.method` so far.
    pub(crate) fn name(&self) -> Cow<'static, str> {
        match self {
            Known::Yes(name) => name.clone(),
            Known::Unless(name) => Cow::Owned(name.clone()),
            Known::Other => Cow::Borrowed(OTHER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_from_paths() {
        assert_eq!(
            method_of_path("/helloworld.Greeter/SayHello"),
            Some("helloworld.Greeter/SayHello")
        );
        assert_eq!(
            method_of_path("/Greeter/SayHello"),
            Some("Greeter/SayHello")
        );
        for bad in [
            "",
            "/",
            "//x",
            "/a/",
            "/a/b/c",
            "a/b",
            "/a b/c",
            "/a/b%20c",
            "/a/<script>",
        ] {
            assert_eq!(method_of_path(bad), None, "{bad:?}");
        }
        let long = format!("/{}/M", "s".repeat(300));
        assert_eq!(method_of_path(&long), None);
        assert_eq!(
            service_of("helloworld.Greeter/SayHello"),
            "helloworld.Greeter"
        );
    }

    #[test]
    fn a_listed_set_decides_at_start() {
        let r = Recognized::listed(["/helloworld.Greeter/SayHello"]);
        assert!(matches!(
            r.at_start(Some("helloworld.Greeter/SayHello")),
            Known::Yes(ref m) if m == "helloworld.Greeter/SayHello"
        ));
        assert!(matches!(
            r.at_start(Some("helloworld.Greeter/Other")),
            Known::Other
        ));
        assert!(matches!(r.at_start(None), Known::Other));
    }

    #[test]
    fn answered_methods_are_learned_up_to_a_bound() {
        let r = Recognized::answered();
        assert!(matches!(r.at_start(Some("a.B/C")), Known::Unless(ref m) if m == "a.B/C"));
        r.learn("a.B/C");
        assert!(matches!(
            r.at_start(Some("a.B/C")),
            Known::Yes(Cow::Borrowed("a.B/C"))
        ));
        for i in 0..2 * MAX_LEARNED {
            r.learn(&format!("a.B/M{i}"));
        }
        assert_eq!(INTERNED.read().unwrap().len(), MAX_LEARNED);
        // Past the bound a method is still answered, only not kept.
        assert!(matches!(r.at_start(Some("a.B/M2000")), Known::Unless(_)));
    }
}
