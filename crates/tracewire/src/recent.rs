//! [`RecentValue`]: request strings that repeat (the `Host` a service is
//! reached by, the user agents of its few callers, the host a client calls)
//! shared instead of copied.

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

#[cfg(test)]
mod tests {
    use super::*;

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
