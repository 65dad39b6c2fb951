//! Builds examples/hello-redis for wasm32-wasip1 (release, through `cargo xtask build`) and checks the
//! module's imports and exports against the Higress Redis ABI.

use std::process::Command;

use wasmparser::{Parser, Payload, TypeRef};

#[test]
fn hello_redis_module_imports_redis_calls_and_exports_the_callback() -> Result<(), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["build", "--plugin", "hello-redis"]).output()?;
    assert!(out.status.success(), "xtask build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8(out.stdout)?.trim().to_string();
    assert!(path.ends_with("plugins/hello-redis/plugin.wasm"), "{path}");
    let module = std::fs::read(&path)?;

    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&module) {
        match payload? {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    if matches!(import.ty, TypeRef::Func(_)) {
                        imports.push(format!("{}.{}", import.module, import.name));
                    }
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    exports.push(export?.name.to_string());
                }
            }
            _ => {}
        }
    }
    for wanted in ["env.proxy_redis_init", "env.proxy_redis_call"] {
        assert!(imports.iter().any(|i| i == wanted), "missing import {wanted}; imports: {imports:?}");
    }
    for wanted in ["proxy_on_redis_call_response", "proxy_abi_version_0_2_1"] {
        assert!(exports.iter().any(|e| e == wanted), "missing export {wanted}; exports: {exports:?}");
    }
    Ok(())
}
