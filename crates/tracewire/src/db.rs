//! Database client semantic conventions shared by the SQL and Redis crates
//! (semconv 1.44 §3–§4): attribute keys and the operation-duration instrument.

use opentelemetry::metrics::Meter;

use crate::metrics::{DB_DURATION_BUCKETS, Histogram, duration_histogram};

/// Attribute keys.
pub mod attr {
    #![allow(missing_docs)]
    // One definition for every integration (`tracewire::instrumentation`).
    pub use crate::instrumentation::{ERROR_TYPE, SERVER_ADDRESS, SERVER_PORT};
    pub const DB_SYSTEM_NAME: &str = "db.system.name";
    pub const DB_NAMESPACE: &str = "db.namespace";
    pub const DB_OPERATION_NAME: &str = "db.operation.name";
    pub const DB_QUERY_TEXT: &str = "db.query.text";
    pub const DB_QUERY_SUMMARY: &str = "db.query.summary";
    pub const DB_RESPONSE_STATUS_CODE: &str = "db.response.status_code";
    pub const DB_RESPONSE_RETURNED_ROWS: &str = "db.response.returned_rows";
    pub const DB_OPERATION_BATCH_SIZE: &str = "db.operation.batch.size";
    pub const DB_STORED_PROCEDURE_NAME: &str = "db.stored_procedure.name";
    pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
}

/// `db.client.operation.duration`.
pub const OPERATION_DURATION: &str = "db.client.operation.duration";

/// The operation-duration histogram (advised DB buckets, exemplars).
pub fn operation_duration(meter: &Meter) -> Histogram {
    duration_histogram(
        meter,
        OPERATION_DURATION,
        "Duration of database client operations.",
        DB_DURATION_BUCKETS,
    )
}
