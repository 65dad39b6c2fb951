//! `cargo xtask push`: builds and packages one plugin, then uploads its image to a registry over the
//! OCI distribution API and prints `REGISTRY/REPOSITORY@DIGEST`.

use anyhow::{Result, bail};

use crate::build;
use crate::flags::Flags;
use crate::package;
use crate::registry::{Client, Reference};
use crate::workspace::Workspace;

pub const ABOUT: &str = "push a plugin's image to a registry (OCI distribution API)";
pub const USAGE: &str = "\
cargo xtask push --plugin NAME --to REGISTRY/REPOSITORY[:TAG] [--version V] [--insecure] [--no-opt]

  --plugin NAME  the plugin to build, package and push
  --to REF       where to push; TAG defaults to the image version
  --version V    image version (default: the plugin's VERSION file)
  --insecure     plain HTTP, for registries on loopback (127.0.0.1, localhost, ::1)
  --no-opt       skip wasm-opt

Credentials: XTASK_REGISTRY_USER and XTASK_REGISTRY_PASSWORD, else the `auths` of
$DOCKER_CONFIG/config.json or ~/.docker/config.json (as written by `docker login`).
Prints REGISTRY/REPOSITORY@sha256:... on success.";

pub fn run(mut flags: Flags) -> Result<()> {
    let name = flags.required("--plugin")?;
    let to = flags.required("--to")?;
    let version = flags.value("--version")?;
    let insecure = flags.switch("--insecure");
    let optimise = !flags.switch("--no-opt");
    flags.finish()?;

    let mut reference = Reference::parse(&to)?;
    if reference.digest.is_some() {
        bail!("--to takes a tag, not a digest: the registry computes the digest");
    }
    let ws = Workspace::load()?;
    let plugins = ws.select_packageable(Some(&name))?;
    let built = build::build(&ws, &plugins, optimise)?;
    let (plugin, wasm) = match (plugins.first(), built.into_iter().next()) {
        (Some(p), Some(b)) => (p, b.bytes),
        _ => bail!("nothing was built for `{name}`"),
    };
    let packaged = package::assemble(&ws, plugin, version.as_deref(), wasm)?;
    let tag = reference
        .tag
        .get_or_insert_with(|| packaged.version.clone())
        .clone();

    let mut client = Client::connect(&reference, insecure)?;
    for blob in packaged.image.blobs() {
        let short = &blob.digest[..19];
        if client.blob_exists(&blob.digest)? {
            eprintln!("  {short} {:>9} bytes  already there", blob.bytes.len());
        } else {
            client.upload_blob(blob)?;
            eprintln!("  {short} {:>9} bytes  uploaded", blob.bytes.len());
        }
    }
    let digest = client.put_manifest(&tag, &packaged.image.manifest)?;
    if digest != packaged.image.manifest.digest {
        bail!(
            "registry stored the manifest as {digest}, but its bytes hash to {}",
            packaged.image.manifest.digest
        );
    }
    eprintln!("pushed {reference} ({digest})");
    println!("{}@{digest}", reference.name());
    Ok(())
}
