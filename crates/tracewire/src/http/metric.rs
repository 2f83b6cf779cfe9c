//! Metric names.
#![allow(missing_docs)] // the names say it
pub const SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
pub const SERVER_ACTIVE_REQUESTS: &str = "http.server.active_requests";
pub const SERVER_REQUEST_BODY_SIZE: &str = "http.server.request.body.size";
pub const SERVER_RESPONSE_BODY_SIZE: &str = "http.server.response.body.size";
pub const CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
