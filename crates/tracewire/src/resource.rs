//! The resource every signal carries: who is emitting.
//!
//! Precedence, highest first: attributes given in code, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` (percent-decoded), then the cheap detectors
//! below. Nothing here does I/O beyond reading the host name.

use std::sync::OnceLock;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::Resource;

use crate::config::Config;

/// `service.instance.id`: one random id per process, stable for its lifetime,
/// so every signal and every re-initialisation agree.
pub fn service_instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // Two independently keyed SipHash outputs: random without a RNG dependency.
        let half = || {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            h.finish()
        };
        let (a, b) = (half(), half());
        // Formatted as a version-4 UUID.
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    })
}

/// The executable's file name, the fallback service name's suffix.
fn executable_name() -> Option<String> {
    std::env::current_exe()
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_owned)
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Builds the resource for `config`.
pub fn build(config: &Config) -> Resource {
    let mut attributes: Vec<KeyValue> = Vec::new();
    let mut push = |k: &str, v: Value| {
        attributes.retain(|kv| kv.key.as_str() != k);
        attributes.push(KeyValue::new(k.to_owned(), v));
    };
    // Lowest precedence first: later pushes replace earlier ones.
    push("telemetry.sdk.name", Value::from("opentelemetry"));
    push("telemetry.sdk.language", Value::from("rust"));
    push("telemetry.sdk.version", Value::from("0.33.1"));
    push("telemetry.distro.name", Value::from("tracewire"));
    push(
        "telemetry.distro.version",
        Value::from(env!("CARGO_PKG_VERSION")),
    );
    push(
        "service.instance.id",
        Value::from(service_instance_id().to_owned()),
    );
    push("process.pid", Value::I64(i64::from(std::process::id())));
    if let Some(exe) = executable_name() {
        push("process.executable.name", Value::from(exe.clone()));
        push(
            "service.name",
            Value::from(format!("unknown_service:{exe}")),
        );
    } else {
        push("service.name", Value::from("unknown_service"));
    }
    push("process.runtime.name", Value::from("rust"));
    push("host.arch", Value::from(std::env::consts::ARCH));
    push("os.type", Value::from(std::env::consts::OS));
    if let Some(host) = host_name() {
        push("host.name", Value::from(host));
    }
    if let Some(name) = &config.default_service_name {
        push("service.name", Value::from(name.clone()));
    }
    for (k, v) in &config.resource_attributes {
        push(k, Value::from(v.clone()));
    }
    if let Some(name) = &config.service_name {
        push("service.name", Value::from(name.clone()));
    }
    for (k, v) in &config.code_resource_attributes {
        push(k, Value::from(v.clone()));
    }
    Resource::builder_empty()
        .with_schema_url(attributes, "https://opentelemetry.io/schemas/1.44.0")
        .build()
}

/// The `service.name` the resource ends up with.
pub fn service_name(resource: &Resource) -> String {
    resource
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map(|v| v.to_string())
        .unwrap_or_else(|| "unknown_service".to_owned())
}
