//! `cargo xtask package`: turns a built plugin into a Higress-compatible OCI image, written as an image
//! layout directory (`target/plugins/NAME/oci`) and a tarball of it (`target/plugins/NAME/oci.tar`).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::archive;
use crate::build;
use crate::flags::Flags;
use crate::oci::{self, Blob, Image};
use crate::spec;
use crate::workspace::{self, Plugin, Workspace};

pub const ABOUT: &str = "build and package plugins as OCI images (target/plugins/NAME/oci, oci.tar)";
pub const USAGE: &str = "\
cargo xtask package [--plugin NAME] [--version V] [--no-opt]

  --plugin NAME  package one plugin (default: every plugin with README.md, spec.yaml and VERSION)
  --version V    image version and tag (default: the plugin's VERSION file); needs --plugin
  --no-opt       skip wasm-opt

Prints `NAME VERSION DIGEST` per plugin; DIGEST is the manifest digest.";

pub fn run(mut flags: Flags) -> Result<()> {
    let plugin = flags.value("--plugin")?;
    let version = flags.value("--version")?;
    let optimise = !flags.switch("--no-opt");
    flags.finish()?;
    if version.is_some() && plugin.is_none() {
        bail!("--version needs --plugin: plugins are versioned one by one\n\n{USAGE}");
    }
    let ws = Workspace::load()?;
    let plugins = ws.select_packageable(plugin.as_deref())?;
    if plugins.is_empty() {
        eprintln!("no packageable plugins (each needs README.md, spec.yaml and VERSION)");
        return Ok(());
    }
    let built = build::build(&ws, &plugins, optimise)?;
    for (plugin, built) in plugins.iter().zip(built) {
        let packaged = assemble(&ws, plugin, version.as_deref(), built.bytes)?;
        let out = ws.out_dir(plugin);
        packaged.image.write_layout(&out.join("oci"), &packaged.version)?;
        let tarball = packaged
            .image
            .layout_tarball(&packaged.version, packaged.epoch)?;
        workspace::write_atomic(&out.join("oci.tar"), &tarball)?;
        eprintln!(
            "{} {}: {} layers, manifest {} -> {}/{{oci,oci.tar}}",
            plugin.name,
            packaged.version,
            packaged.image.layers.len(),
            packaged.image.manifest.digest,
            ws.relative(&out).display()
        );
        println!(
            "{} {} {}",
            plugin.name, packaged.version, packaged.image.manifest.digest
        );
    }
    Ok(())
}

/// An image ready to write or push.
#[derive(Debug)]
pub struct Packaged {
    pub image: Image,
    pub version: String,
    /// The timestamp baked into the image (commit time), seconds since the epoch.
    pub epoch: u64,
}

#[derive(Serialize)]
struct ImageConfig {
    created: String,
    architecture: &'static str,
    os: &'static str,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

/// Assembles `plugin`'s image around the module bytes `wasm`: layers README.md, spec.yaml, then
/// plugin.tar.gz holding plugin.wasm.
pub fn assemble(
    ws: &Workspace,
    plugin: &Plugin,
    version: Option<&str>,
    wasm: Vec<u8>,
) -> Result<Packaged> {
    let version = match version {
        Some(v) => v.to_string(),
        None => plugin.version()?,
    };
    check_tag(&version)?;
    let spec = spec::load(plugin)?;
    for problem in crate::examples::check(plugin) {
        eprintln!("warning: {problem}");
    }
    let readme_path = plugin.dir.join("README.md");
    let readme = std::fs::read(&readme_path)
        .with_context(|| format!("reading {}", readme_path.display()))?;
    if wasm.is_empty() {
        bail!("{}: the built module is empty", plugin.name);
    }

    let plugin_tar = archive::tar(
        &[archive::Entry {
            path: "plugin.wasm".into(),
            bytes: Some(&wasm),
        }],
        0,
    )?;
    let diff_ids = vec![
        oci::digest(&readme),
        oci::digest(&spec.bytes),
        oci::digest(&plugin_tar),
    ];
    let layers = vec![
        Blob::file(oci::DOC_MEDIA_TYPE, "README.md", readme),
        Blob::file(oci::SPEC_MEDIA_TYPE, "spec.yaml", spec.bytes),
        Blob::file(
            oci::WASM_LAYER_MEDIA_TYPE,
            "plugin.tar.gz",
            archive::gzip(&plugin_tar)?,
        ),
    ];

    let epoch = ws.source_date_epoch()?;
    let created = workspace::rfc3339(epoch);
    let config = ImageConfig {
        created: created.clone(),
        architecture: "wasm",
        os: "wasip1",
        rootfs: RootFs {
            kind: "layers",
            diff_ids,
        },
    };
    let config = Blob::new(
        oci::CONFIG_MEDIA_TYPE,
        serde_json::to_vec_pretty(&config).context("serialising the image config")?,
    );

    let mut annotations = BTreeMap::new();
    let mut annotate = |key: &str, value: String| {
        annotations.insert(format!("org.opencontainers.image.{key}"), value);
    };
    annotate("title", plugin.name.clone());
    annotate("version", version.clone());
    annotate("revision", ws.revision());
    annotate("created", created);
    annotate("description", spec.description.trim().to_string());
    if let Some(source) = &plugin.repository {
        annotate("source", source.clone());
    }
    let image = Image::new(config, layers, annotations)?;
    Ok(Packaged {
        image,
        version,
        epoch,
    })
}

/// OCI tags: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!("`{tag}` is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})");
    }
    Ok(())
}
