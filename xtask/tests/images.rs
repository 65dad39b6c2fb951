//! Plugin images end to end: `xtask package` and `xtask push` against Debian's `docker-registry`,
//! read back with `skopeo`; reproducibility; failures when the registry is down or refuses auth.
// Tests fail by panicking: expect/panic are how they report.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Auth, Registry, TempDir, TokenService, fixture_xtask, run_ok, skopeo, stderr, stdout, xtask};

const DOC: &str = "application/vnd.module.wasm.doc.v1+markdown";
const SPEC: &str = "application/vnd.module.wasm.spec.v1+yaml";
const WASM_TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A packaged plugin: what `xtask package` printed, plus where its sources and module are.
#[derive(Debug)]
struct Packaged {
    name: String,
    version: String,
    digest: String,
    wasm: PathBuf,
    dir: PathBuf,
}

/// Builds and packages every packageable plugin of the workspace `cmd` runs on.
fn package_all(mut build: Command, mut package: Command, root: &Path) -> Vec<Packaged> {
    let wasm_paths: Vec<PathBuf> = stdout(&run_ok(build.arg("build"))).lines().map(PathBuf::from).collect();
    stdout(&run_ok(package.arg("package")))
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "package prints NAME VERSION DIGEST, got {line:?}");
            let name = fields[0].to_string();
            let wasm = wasm_paths
                .iter()
                .find(|p| p.parent().and_then(Path::file_name).is_some_and(|n| n == name.as_str()))
                .unwrap_or_else(|| panic!("build printed no module for {name}: {wasm_paths:?}"))
                .clone();
            let dir = ["plugins", "examples"]
                .iter()
                .map(|p| root.join(p).join(&name))
                .find(|d| d.is_dir())
                .unwrap_or_else(|| panic!("no source directory for {name}"));
            Packaged { name, version: fields[1].to_string(), digest: fields[2].to_string(), wasm, dir }
        })
        .collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Layer media types of a manifest, in order.
fn layer_types(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("manifest has layers")
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Checks an image copied back into an OCI layout directory against the plugin it came from.
fn check_copied_layout(layout: &Path, plugin: &Packaged) {
    let index = json_file(&layout.join("index.json"));
    let manifest_digest = index["manifests"][0]["digest"].as_str().expect("index names a manifest");
    assert_eq!(manifest_digest, plugin.digest, "{}: skopeo copy kept the manifest digest", plugin.name);
    let blob = |digest: &str| -> Vec<u8> {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob in the copied layout")
    };
    let manifest: Value = serde_json::from_slice(&blob(manifest_digest)).expect("manifest JSON");
    assert_eq!(layer_types(&manifest), [DOC, SPEC, WASM_TAR_GZ], "{}", plugin.name);
    let layers = manifest["layers"].as_array().expect("layers");
    let digest_of = |i: usize| layers[i]["digest"].as_str().expect("layer digest").to_string();

    let readme = std::fs::read(plugin.dir.join("README.md")).expect("README.md");
    assert_eq!(blob(&digest_of(0)), readme, "{}: README layer", plugin.name);
    let spec = std::fs::read(plugin.dir.join("spec.yaml")).expect("spec.yaml");
    assert_eq!(blob(&digest_of(1)), spec, "{}: spec layer", plugin.name);

    let gz = blob(&digest_of(2));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut files = Vec::new();
    for entry in archive.entries().expect("last layer is a tar.gz") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("entry path").display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry bytes");
        files.push((path, bytes));
    }
    let built = std::fs::read(&plugin.wasm).expect("built plugin.wasm");
    assert_eq!(files.len(), 1, "{}: the last layer holds only plugin.wasm", plugin.name);
    assert_eq!(files[0].0, "plugin.wasm");
    assert!(files[0].1 == built, "{}: the last layer unpacks to the built plugin.wasm", plugin.name);
}

#[test]
fn every_plugin_image_round_trips_through_a_registry_and_skopeo() {
    let docker = TempDir::new("docker-config");
    let fixture_target = support::shared_fixture_target();
    let mut plugins = package_all(xtask(docker.path()), xtask(docker.path()), &workspace_root());
    plugins.extend(package_all(
        fixture_xtask(docker.path(), &fixture_target),
        fixture_xtask(docker.path(), &fixture_target),
        &support::fixture_root(),
    ));
    for name in ["cluster-rate-limit", "token-limit", "cookie-cache", "tiny-filter"] {
        assert!(plugins.iter().any(|p| p.name == name), "{name} was not packaged: {plugins:?}");
    }

    let registry = Registry::start(Auth::Open);
    for plugin in &plugins {
        let from_fixture = plugin.dir.starts_with(support::fixture_root());
        let mut push = if from_fixture { fixture_xtask(docker.path(), &fixture_target) } else { xtask(docker.path()) };
        let tagged = format!("{}/plugins/{}:{}", registry.host, plugin.name, plugin.version);
        let pushed = run_ok(push.args(["push", "--plugin", &plugin.name, "--to", &tagged, "--insecure"]));
        assert_eq!(
            stdout(&pushed).trim(),
            format!("{}/plugins/{}@{}", registry.host, plugin.name, plugin.digest),
            "push prints the pinned reference, same digest as package"
        );

        let docker_ref = format!("docker://{tagged}");
        let inspected: Value =
            serde_json::from_str(&stdout(&run_ok(skopeo().args(["inspect", "--tls-verify=false", &docker_ref]))))
                .expect("skopeo inspect JSON");
        assert_eq!(inspected["Digest"], plugin.digest.as_str());
        let raw: Value = serde_json::from_str(&stdout(&run_ok(skopeo().args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &docker_ref,
        ]))))
        .expect("raw manifest JSON");
        assert_eq!(raw["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(layer_types(&raw), [DOC, SPEC, WASM_TAR_GZ], "{}", plugin.name);
        let annotations = &raw["annotations"];
        assert_eq!(annotations["org.opencontainers.image.title"], plugin.name.as_str());
        assert_eq!(annotations["org.opencontainers.image.version"], plugin.version.as_str());
        for key in ["revision", "created", "source"] {
            assert!(
                annotations[format!("org.opencontainers.image.{key}")].is_string(),
                "{}: annotation {key} in {annotations}",
                plugin.name
            );
        }

        let copy = TempDir::new("copy");
        let layout = copy.path().join("layout");
        run_ok(skopeo().args([
            "copy",
            "--src-tls-verify=false",
            &docker_ref,
            &format!("oci:{}:{}", layout.display(), plugin.version),
        ]));
        check_copied_layout(&layout, plugin);
    }
}

#[test]
fn packaging_twice_gives_the_same_manifest_digest() {
    let docker = TempDir::new("docker-config");
    // The fixture from two clean target dirs: nothing carries over but the sources.
    let (a, b) = (TempDir::new("target-a"), TempDir::new("target-b"));
    let first = run_ok(fixture_xtask(docker.path(), a.path()).args(["package", "--plugin", "tiny-filter"]));
    let second = run_ok(fixture_xtask(docker.path(), b.path()).args(["package", "--plugin", "tiny-filter"]));
    assert!(stdout(&first).starts_with("tiny-filter 0.3.1 sha256:"), "{}", stdout(&first));
    assert_eq!(stdout(&first), stdout(&second));
    let tarball = |dir: &Path| std::fs::read(dir.join("plugins/tiny-filter/oci.tar")).expect("oci.tar");
    assert!(tarball(a.path()) == tarball(b.path()), "the layout tarballs are byte-identical");
    let layout = a.path().join("plugins/tiny-filter/oci");
    run_ok(skopeo().args(["inspect", &format!("oci:{}:0.3.1", layout.display())]));

    // The real plugins, twice in the same target dir.
    let once = stdout(&run_ok(xtask(docker.path()).arg("package")));
    let twice = stdout(&run_ok(xtask(docker.path()).arg("package")));
    assert_eq!(once, twice);
}

/// Names and sizes of the files under `dir`, for "nothing changed" checks.
fn listing(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.insert(path.strip_prefix(dir).unwrap_or(&path).display().to_string(), size);
        }
    }
    out
}

#[test]
fn pushing_to_a_registry_that_is_down_fails_clearly_and_writes_nothing() {
    let docker = TempDir::new("docker-config");
    let target = TempDir::new("target-down");
    run_ok(fixture_xtask(docker.path(), target.path()).args(["package", "--plugin", "tiny-filter"]));
    let before = listing(target.path().join("plugins").as_path());

    let host = format!("127.0.0.1:{}", support::free_port());
    let out = fixture_xtask(docker.path(), target.path())
        .args(["push", "--plugin", "tiny-filter", "--to", &format!("{host}/tiny-filter:1"), "--insecure"])
        .output()
        .expect("run xtask push");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains(&format!("error: cannot reach registry {host}")), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "no digest printed: {}", stdout(&out));
    assert_eq!(listing(target.path().join("plugins").as_path()), before);
    assert!(std::fs::read_dir(docker.path()).expect("docker config dir").next().is_none());
}

#[test]
fn a_registry_with_htpasswd_auth_refuses_bad_credentials_and_accepts_good_ones() {
    let hash = bcrypt::hash("s3cret-pw", 4).expect("bcrypt");
    let registry = Registry::start(Auth::Htpasswd(&format!("alice:{hash}\n")));
    let docker = TempDir::new("docker-config");
    let target = support::shared_fixture_target();
    let to = format!("{}/secure/tiny-filter:0.3.1", registry.host);
    let push = |cmd: &mut Command| {
        cmd.args(["push", "--plugin", "tiny-filter", "--to", &to, "--insecure"]).output().expect("run xtask push")
    };

    let anonymous = push(&mut fixture_xtask(docker.path(), &target));
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(
        stderr(&anonymous).contains(&format!("registry {} requires authentication", registry.host)),
        "{}",
        stderr(&anonymous)
    );

    let wrong = push(
        fixture_xtask(docker.path(), &target)
            .env("XTASK_REGISTRY_USER", "alice")
            .env("XTASK_REGISTRY_PASSWORD", "not-the-password"),
    );
    assert_eq!(wrong.status.code(), Some(1));
    let message = stderr(&wrong);
    assert!(
        message.contains(&format!("registry {} refused the credentials of user `alice`", registry.host)),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "the password never reaches the output");

    // Good credentials from the Docker config file, as `docker login` writes them.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
    std::fs::write(
        docker.path().join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, registry.host),
    )
    .expect("write docker config");
    let ok = run_ok(fixture_xtask(docker.path(), &target).args([
        "push",
        "--plugin",
        "tiny-filter",
        "--to",
        &to,
        "--insecure",
    ]));
    let pinned = stdout(&ok).trim().to_string();
    let digest = pinned.split('@').nth(1).expect("pinned reference").to_string();
    let inspected: Value = serde_json::from_str(&stdout(&run_ok(skopeo().args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret-pw",
        &format!("docker://{to}"),
    ]))))
    .expect("skopeo inspect JSON");
    assert_eq!(inspected["Digest"], digest.as_str());
}

#[test]
fn manifest_pins_the_digest_that_the_tag_points_to() {
    let registry = Registry::start(Auth::Open);
    let docker = TempDir::new("docker-config");
    let target = support::shared_fixture_target();
    let tagged = format!("{}/tiny-filter:0.3.1", registry.host);
    let pushed = run_ok(fixture_xtask(docker.path(), &target).args([
        "push",
        "--plugin",
        "tiny-filter",
        "--to",
        &tagged,
        "--insecure",
    ]));
    let pinned = stdout(&pushed).trim().to_string();

    for image in [tagged.as_str(), pinned.as_str()] {
        let out = run_ok(fixture_xtask(docker.path(), &target).args([
            "manifest",
            "--plugin",
            "tiny-filter",
            "--image",
            image,
            "--insecure",
        ]));
        let doc: serde_yaml::Value = serde_yaml::from_str(&stdout(&out)).expect("manifest is YAML");
        assert_eq!(doc["apiVersion"].as_str(), Some("extensions.higress.io/v1alpha1"));
        assert_eq!(doc["kind"].as_str(), Some("WasmPlugin"));
        assert_eq!(doc["metadata"]["name"].as_str(), Some("tiny-filter"));
        let spec = &doc["spec"];
        assert_eq!(spec["url"].as_str(), Some(format!("oci://{pinned}").as_str()));
        assert_eq!(spec["phase"].as_str(), Some("UNSPECIFIED_PHASE"));
        assert_eq!(spec["priority"].as_i64(), Some(100));
        assert_eq!(spec["defaultConfig"]["greeting"].as_str(), Some("hello"));
        assert_eq!(spec["defaultConfig"]["redis"]["service_port"].as_i64(), Some(6379));
    }
}

#[test]
fn a_registry_with_bearer_token_auth_gets_a_token_for_the_repository() {
    let tokens = TokenService::start("bob", "t0ken-pw");
    let registry = Registry::start(Auth::Bearer { realm: &tokens.realm });
    let docker = TempDir::new("docker-config");
    let target = support::shared_fixture_target();
    let to = format!("{}/bearer/tiny-filter:0.3.1", registry.host);
    let push = |password: &str| {
        fixture_xtask(docker.path(), &target)
            .env("XTASK_REGISTRY_USER", "bob")
            .env("XTASK_REGISTRY_PASSWORD", password)
            .args(["push", "--plugin", "tiny-filter", "--to", &to, "--insecure"])
            .output()
            .expect("run xtask push")
    };

    let refused = push("wrong");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(&format!("registry {} refused the credentials of user `bob`", registry.host)),
        "{}",
        stderr(&refused)
    );

    let ok = push("t0ken-pw");
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).trim().starts_with(&format!("{}/bearer/tiny-filter@sha256:", registry.host)));
    let requests = tokens.requests.lock().expect("requests").clone();
    assert!(
        requests.iter().any(|r| r
            .starts_with("GET /token?service=xtask-registry&scope=repository%3Abearer%2Ftiny-filter%3Apull%2Cpush")),
        "token requests: {requests:?}"
    );
}
