//! Writes the Rust code of the project's `.proto` files next to them
//! (committed: building the workspace never needs protoc).

use std::path::{Path, PathBuf};

/// (proto file, include directory, output directory), from the repository root.
const PROTOS: &[(&str, &str, &str)] = &[
    (
        "examples/grpc/proto/helloworld.proto",
        "examples/grpc/proto",
        "examples/grpc/src/generated",
    ),
    (
        "crates/tracewire-tonic/tests/proto/echo.proto",
        "crates/tracewire-tonic/tests/proto",
        "crates/tracewire-tonic/tests/proto",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (proto, include, out) in PROTOS {
        let out = root.join(out);
        std::fs::create_dir_all(&out)?;
        tonic_prost_build::configure()
            .build_transport(false)
            .out_dir(&out)
            .compile_protos(&[root.join(proto)], &[root.join(include)])?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
