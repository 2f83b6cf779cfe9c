//! The attribute keys of the RPC conventions (semconv 1.44) this crate sets.

/// `rpc.system.name`: `grpc`.
pub const RPC_SYSTEM_NAME: &str = "rpc.system.name";
/// `rpc.method`: `package.Service/Method`, or `_OTHER`.
pub const RPC_METHOD: &str = "rpc.method";
/// `rpc.method_original`: the path's method when `rpc.method` is `_OTHER`.
pub const RPC_METHOD_ORIGINAL: &str = "rpc.method_original";
/// `rpc.response.status_code`: the status code's name (`OK`, `NOT_FOUND`, …).
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";
pub use tracewire::http::attr::{
    ERROR_TYPE, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, SERVER_ADDRESS, SERVER_PORT,
};

/// `rpc.server.call.duration`.
pub const RPC_SERVER_CALL_DURATION: &str = "rpc.server.call.duration";
/// `rpc.client.call.duration`.
pub const RPC_CLIENT_CALL_DURATION: &str = "rpc.client.call.duration";
