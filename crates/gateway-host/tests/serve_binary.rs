//! The `gateway-host serve --config FILE` binary: starts from a YAML file, prints its address,
//! serves, and the shipped example config parses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gateway_host::GatewayConfig;
use gateway_host::testing::{http_get, workspace_root};

#[test]
fn serve_starts_from_a_yaml_file_and_answers() {
    let dir = std::env::temp_dir().join(format!("gateway-host-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.yaml");
    std::fs::write(
        &path,
        r#"
listeners:
  - address: 127.0.0.1:0
    routes:
      - name: health
        prefix: /healthz
        direct_response: {status: 200, body: "ok"}
"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway-host"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("gateway-host listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let resp = http_get(&format!("{url}/healthz"));
    let _ = child.kill();
    let _ = child.wait();
    let resp = resp.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ok");
}

#[test]
fn serve_rejects_a_config_with_an_unknown_plugin_reference() {
    let dir = std::env::temp_dir().join(format!("gateway-host-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"listeners":[{"address":"127.0.0.1:0","filters":["ghost"],"routes":[]}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway-host")).args(["serve", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
}

#[test]
fn the_example_gateway_config_parses_and_validates() {
    let path = workspace_root().join("examples/gateway/hello-redis.yaml");
    let config = GatewayConfig::from_file(&path).unwrap();
    assert_eq!(config.concurrency, 2);
    assert!(config.cluster("outbound|6379||redis.static").is_some());
    assert!(config.plugins[0].wasm.ends_with("hello_redis.wasm"));
}
