//! Request strings that repeat, shared instead of copied: [`RecentValue`]
//! (the `Host` a service is reached by, the user agents of its few callers,
//! the host a client calls) and [`AddressText`] (the IP addresses a server
//! sees over and over).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use opentelemetry::StringValue;

/// The last value seen, kept to be shared by the next request that carries
/// the same one. A new value replaces it: a request never costs more than the
/// copy it would have made anyway.
#[derive(Debug, Default)]
pub struct RecentValue {
    last: RwLock<Option<Arc<str>>>,
}

impl RecentValue {
    /// `value` as an attribute value, sharing the kept copy when it matches.
    pub fn get(&self, value: &str) -> StringValue {
        StringValue::from(self.shared(value))
    }

    /// `value` as a shared string: the kept copy when it matches (for a
    /// metric handle's key as well as the attributes).
    pub fn shared(&self, value: &str) -> Arc<str> {
        let kept = self
            .last
            .read()
            .ok()
            .and_then(|last| last.as_ref().filter(|last| ***last == *value).cloned());
        if let Some(kept) = kept {
            return kept;
        }
        let fresh: Arc<str> = Arc::from(value);
        // Never wait for the lock: under contention the value is not kept.
        if let Ok(mut last) = self.last.try_write() {
            *last = Some(Arc::clone(&fresh));
        }
        fresh
    }
}

/// The text of the IP addresses a server sees over and over (its own, its
/// clients', its proxies'), kept so that each request shares one string
/// instead of formatting and allocating it. Bounded: past
/// [`MAX`](Self::MAX) addresses, new ones are formatted per request.
#[derive(Debug, Default)]
pub struct AddressText(
    // Peer addresses are the process's own connections' and the map is
    // bounded: the quick hasher (no flooding to resist) saves ~100
    // instructions a lookup against SipHash.
    RwLock<HashMap<IpAddr, StringValue, BuildHasherDefault<crate::hashers::SmallKeyHasher>>>,
);

impl AddressText {
    /// How many addresses are kept.
    pub const MAX: usize = 256;

    /// `ip` as text (`2001:db8::1`, `10.0.0.2`), shared when kept.
    pub fn of(&self, ip: IpAddr) -> StringValue {
        if let Some(found) = self.0.read().ok().and_then(|m| m.get(&ip).cloned()) {
            return found;
        }
        let value = StringValue::from(Arc::<str>::from(ip.to_string()));
        if let Ok(mut map) = self.0.write() {
            if map.len() < Self::MAX {
                map.insert(ip, value.clone());
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_formatted_once_and_shared_up_to_the_bound() {
        let text = AddressText::default();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let first = text.of(ip);
        assert_eq!(first.as_str(), "2001:db8::1");
        assert!(std::ptr::eq(first.as_str(), text.of(ip).as_str()), "shared");
        for n in 0..AddressText::MAX as u32 {
            text.of(IpAddr::from(n.to_be_bytes()));
        }
        let late: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(text.of(late).as_str(), "192.0.2.9");
        assert!(
            !std::ptr::eq(text.of(late).as_str(), text.of(late).as_str()),
            "past the bound, formatted per call"
        );
    }

    #[test]
    fn a_repeated_value_shares_one_copy_and_a_new_one_replaces_it() {
        let recent = RecentValue::default();
        let first = recent.get("api.example.com");
        let again = recent.get("api.example.com");
        assert_eq!(first.as_str(), "api.example.com");
        assert!(
            std::ptr::eq(first.as_str(), again.as_str()),
            "shared, not copied"
        );
        let other = recent.get("admin.example.com");
        assert_eq!(other.as_str(), "admin.example.com");
        assert!(std::ptr::eq(
            other.as_str(),
            recent.get("admin.example.com").as_str()
        ));
    }
}
