//! OCI image model: media types Higress expects, content-addressed blobs, manifests, and the on-disk
//! image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) plus its tarball.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive;
use crate::workspace;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const DOC_MEDIA_TYPE: &str = "application/vnd.module.wasm.doc.v1+markdown";
pub const SPEC_MEDIA_TYPE: &str = "application/vnd.module.wasm.spec.v1+yaml";
/// The last layer: a gzip tar holding `plugin.wasm`.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Content-addressed bytes with a media type.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob { media_type: media_type.to_string(), digest: digest(&bytes), bytes, annotations: BTreeMap::new() }
    }

    /// A blob whose `org.opencontainers.image.title` annotation names the file it came from.
    pub fn file(media_type: &str, file_name: &str, bytes: Vec<u8>) -> Blob {
        let mut blob = Blob::new(media_type, bytes);
        blob.annotations.insert(ANNOTATION_TITLE.to_string(), file_name.to_string());
        blob
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            annotations: self.annotations.clone(),
        }
    }

    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

// Structs (not `serde_json::Value`) keep field order fixed whatever features serde_json is built with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// An image held in memory: config, layers in order, and the manifest that ties them together.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Blob,
}

impl Image {
    pub fn new(config: Blob, layers: Vec<Blob>, annotations: BTreeMap<String, String>) -> Result<Image> {
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE,
            config: config.descriptor(),
            layers: layers.iter().map(Blob::descriptor).collect(),
            annotations,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).context("serialising the manifest")?;
        Ok(Image { config, layers, manifest: Blob::new(MANIFEST_MEDIA_TYPE, bytes) })
    }

    /// Every blob a registry must hold before the manifest is accepted: config first, then layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// The files of an OCI image layout tagged `tag`, as (relative path, bytes), in a fixed order.
    fn layout_files(&self, tag: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut manifest = self.manifest.descriptor();
        manifest.annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
        let index = Index { schema_version: 2, media_type: INDEX_MEDIA_TYPE, manifests: vec![manifest] };
        let mut files = vec![
            ("oci-layout".to_string(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("index.json".to_string(), serde_json::to_vec_pretty(&index).context("serialising index.json")?),
        ];
        let mut blobs: BTreeMap<&str, &Blob> = self.blobs().map(|b| (b.hex(), b)).collect();
        blobs.insert(self.manifest.hex(), &self.manifest);
        for (hex, blob) in blobs {
            files.push((format!("blobs/sha256/{hex}"), blob.bytes.clone()));
        }
        Ok(files)
    }

    /// Replaces `dir` with an OCI image layout of this image; readers see the old or the new one whole.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<()> {
        let staging = workspace::temp_sibling(dir);
        let result = (|| -> Result<()> {
            std::fs::create_dir_all(staging.join("blobs/sha256"))?;
            for (path, bytes) in self.layout_files(tag)? {
                std::fs::write(staging.join(&path), bytes)?;
            }
            Ok(())
        })()
        .with_context(|| format!("writing an image layout in {}", staging.display()));
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let old = workspace::temp_sibling(dir);
        let had_old = std::fs::rename(dir, &old).is_ok();
        let placed = std::fs::rename(&staging, dir);
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        if let Err(e) = placed {
            let _ = std::fs::remove_dir_all(&staging);
            // Another xtask placed its layout in between; with a reproducible image it is the same.
            if !dir.join("index.json").is_file() {
                return Err(e).with_context(|| format!("moving the image layout to {}", dir.display()));
            }
        }
        Ok(())
    }

    /// The image layout as one reproducible tar (loadable with `skopeo copy oci-archive:...`).
    pub fn layout_tarball(&self, tag: &str, mtime: u64) -> Result<Vec<u8>> {
        let files = self.layout_files(tag)?;
        let mut entries = vec![
            archive::Entry { path: "blobs/".into(), bytes: None },
            archive::Entry { path: "blobs/sha256/".into(), bytes: None },
        ];
        entries.extend(files.iter().map(|(path, bytes)| archive::Entry { path: path.clone(), bytes: Some(bytes) }));
        archive::tar(&entries, mtime)
    }
}
