//! Attribute keys used by the HTTP crates (semconv 1.44 names).
#![allow(missing_docs)] // the names say it
// One definition for every integration (`tracewire::instrumentation`).
pub use crate::instrumentation::{ERROR_TYPE, SERVER_ADDRESS, SERVER_PORT};
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub const HTTP_ROUTE: &str = "http.route";
pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
pub const URL_PATH: &str = "url.path";
pub const URL_QUERY: &str = "url.query";
pub const URL_SCHEME: &str = "url.scheme";
pub const URL_FULL: &str = "url.full";
pub const CLIENT_ADDRESS: &str = "client.address";
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
