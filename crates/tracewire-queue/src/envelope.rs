//! The envelope that carries trace context through a Redis list, which has
//! no message metadata: `{"headers": {"traceparent": …}, "payload": …}`.

use std::collections::HashMap;

use tracewire::otel::Context;

/// A message as stored in the list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// Message id (`messaging.message.id`).
    pub id: String,
    /// Propagation headers (`traceparent`, `tracestate`, `baggage`).
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// Deliveries so far (0 on the first).
    #[serde(default)]
    pub attempt: u32,
    /// The application's payload.
    pub payload: String,
}

impl Envelope {
    /// A new envelope for `payload`, carrying `cx`'s trace context.
    pub fn new(id: String, payload: String, cx: &Context) -> Self {
        let mut headers = HashMap::new();
        tracewire::propagation::inject_into(cx, &mut headers);
        Self {
            id,
            headers,
            attempt: 0,
            payload,
        }
    }

    /// Reads a list entry. Anything that is not an envelope (written by
    /// another producer) is taken as a bare payload without trace context.
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_else(|_| Self {
            id: String::new(),
            headers: HashMap::new(),
            attempt: 0,
            payload: raw.to_owned(),
        })
    }

    /// The list entry.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The producer's context, if the message carries a valid one.
    pub fn context(&self) -> Context {
        tracewire::propagation::extract_from(&self.headers)
    }
}
