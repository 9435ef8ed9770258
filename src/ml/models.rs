//! The model manifest (`models/manifest.toml`, compiled in), the model files installed in the
//! models dir, their verification by sha256, and loading each model once per process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use serde::Deserialize;

use super::MlError;
use crate::digest::sha256_file;

/// One model of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    /// The job kind that uses it.
    pub task: String,
    /// Path under the models dir (and under an install source).
    pub file: String,
    pub sha256: String,
    /// The concrete input shape the model is optimized for (none for data that is not a
    /// network, such as the place names).
    pub input: Vec<usize>,
    pub preprocessing: String,
    /// Class names, one per output index, with their digest.
    pub labels: Option<String>,
    pub labels_sha256: Option<String>,
    pub license: String,
    /// Whether its licence lets Alcoves pass it on, in the `alcoves-models` package.
    #[serde(default)]
    pub redistributable: bool,
}

impl ModelSpec {
    /// The files this model needs (weights, then labels) with their expected digests.
    pub fn parts(&self) -> Vec<(&str, &str)> {
        let mut parts = vec![(self.file.as_str(), self.sha256.as_str())];
        if let (Some(file), Some(sha)) = (&self.labels, &self.labels_sha256) {
            parts.push((file.as_str(), sha.as_str()));
        }
        parts
    }
}

#[derive(Deserialize)]
struct Manifest {
    model: Vec<ModelSpec>,
}

static MANIFEST: LazyLock<Vec<ModelSpec>> = LazyLock::new(|| {
    toml::from_str::<Manifest>(include_str!("../../models/manifest.toml"))
        .expect("models/manifest.toml parses")
        .model
});

/// Every model Alcoves knows.
pub fn manifest() -> &'static [ModelSpec] {
    &MANIFEST
}

/// The manifest entry called `name`.
pub fn spec(name: &str) -> Result<&'static ModelSpec, MlError> {
    manifest()
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| MlError::ModelMissing(format!("no model called `{name}` is known")))
}

/// Whether a model's files are present and intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    Installed,
    Missing(String),
    Corrupt(String),
}

/// Checks every file of `spec` under `dir` against its digest.
pub fn verify(dir: &Path, spec: &ModelSpec) -> ModelState {
    for (file, sha) in spec.parts() {
        let path = dir.join(file);
        match sha256_file(&path, |_| {}) {
            Ok(actual) if actual == sha => {}
            Ok(actual) => {
                return ModelState::Corrupt(format!(
                    "{} has sha256 {actual}, expected {sha}",
                    path.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return ModelState::Missing(format!("{} is not installed", path.display()));
            }
            Err(e) => return ModelState::Corrupt(format!("{}: {e}", path.display())),
        }
    }
    ModelState::Installed
}

fn missing(name: &str, why: &str) -> MlError {
    MlError::ModelMissing(format!(
        "model {name}: {why}; install it with `alcoves models install --from DIR`"
    ))
}

/// Fails unless every file of the manifest model `name` is present under `dir`: a cheap check
/// before expensive decoding (digests are checked when the model loads).
pub fn require(dir: &Path, name: &str) -> Result<(), MlError> {
    for (file, _) in spec(name)?.parts() {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(missing(
                name,
                &format!("{} is not installed", path.display()),
            ));
        }
    }
    Ok(())
}

/// What `install` did with one model.
#[derive(Debug)]
pub struct Installed {
    pub name: &'static str,
    pub outcome: Result<&'static str, String>,
}

/// Copies each of `specs` whose files under one of `from` match the manifest into `to` (the first
/// folder that has it intact wins), each file written to a temporary name and renamed. Files
/// already installed intact are left alone; a file whose digest does not match is refused.
/// `on_model` is called after each model.
pub fn install<P: AsRef<Path>>(
    specs: impl IntoIterator<Item = &'static ModelSpec>,
    from: &[P],
    to: &Path,
    mut on_model: impl FnMut(&Installed),
) -> Vec<Installed> {
    specs
        .into_iter()
        .map(|spec| {
            let outcome = match verify(to, spec) {
                ModelState::Installed => Ok("already installed"),
                _ => install_one(from, to, spec),
            };
            let done = Installed {
                name: &spec.name,
                outcome,
            };
            on_model(&done);
            done
        })
        .collect()
}

/// Copies `spec` from the first of `from` that holds it intact; otherwise says why the last
/// folder (or the first corrupt copy) could not serve it.
fn install_one<P: AsRef<Path>>(
    from: &[P],
    to: &Path,
    spec: &ModelSpec,
) -> Result<&'static str, String> {
    let mut why_not = Vec::new();
    for dir in from {
        match verify(dir.as_ref(), spec) {
            ModelState::Installed => {
                return copy_parts(dir.as_ref(), to, spec).map(|()| "installed");
            }
            ModelState::Missing(why) | ModelState::Corrupt(why) => why_not.push(why),
        }
    }
    Err(why_not.join("; "))
}

fn copy_parts(from: &Path, to: &Path, spec: &ModelSpec) -> Result<(), String> {
    for (file, _) in spec.parts() {
        let target = to.join(file);
        let temp = target.with_extension("partial");
        let copied = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(from.join(file), &temp))
            .and_then(|_| std::fs::File::open(&temp)?.sync_all())
            .and_then(|()| std::fs::rename(&temp, &target));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("copying {file} to {}: {e}", to.display()));
        }
    }
    // The copy must still match: a disk error must not leave a model that only fails later.
    match verify(to, spec) {
        ModelState::Installed => Ok(()),
        ModelState::Missing(why) | ModelState::Corrupt(why) => Err(why),
    }
}

/// A model loaded at most once per process, on first use, and shared by every worker. A model
/// that is missing or corrupt is not remembered, so installing it takes effect without a restart.
pub struct Lazy<T> {
    /// The model with the path it was loaded from.
    loaded: Mutex<Option<(PathBuf, Arc<T>)>>,
}

impl<T> Lazy<T> {
    /// An empty slot.
    pub const fn new() -> Lazy<T> {
        Lazy {
            loaded: Mutex::new(None),
        }
    }

    /// The manifest model `name`, verified and loaded from `dir` with `load` on first use (or
    /// when another model or dir is asked for). Blocking.
    pub fn get(
        &self,
        dir: &Path,
        name: &str,
        load: impl FnOnce(&Path, &ModelSpec) -> Result<T, String>,
    ) -> Result<Arc<T>, MlError> {
        let spec = spec(name)?;
        let path = weights_path(dir, spec);
        let mut slot = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((loaded, model)) = slot.as_ref()
            && *loaded == path
        {
            return Ok(model.clone());
        }
        match verify(dir, spec) {
            ModelState::Installed => {}
            ModelState::Missing(why) => return Err(missing(name, &why)),
            ModelState::Corrupt(why) => {
                return Err(MlError::ModelCorrupt(format!(
                    "model {name} is corrupt and was not loaded: {why}; reinstall it with `alcoves models install --from DIR`"
                )));
            }
        }
        let model = load(dir, spec)
            .map(Arc::new)
            .map_err(|e| MlError::ModelCorrupt(format!("model {name}: {e}")))?;
        *slot = Some((path, model.clone()));
        Ok(model)
    }
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The label file of `spec` as lines, one per class index.
pub fn read_labels(dir: &Path, spec: &ModelSpec) -> Result<Vec<String>, String> {
    let file = spec
        .labels
        .as_deref()
        .ok_or_else(|| format!("{} has no label file", spec.name))?;
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// The full path of `spec`'s weights under `dir`.
pub fn weights_path(dir: &Path, spec: &ModelSpec) -> PathBuf {
    dir.join(&spec.file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_parses_and_names_are_unique() {
        let names: Vec<&str> = manifest().iter().map(|m| m.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
        for m in manifest() {
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
            assert_eq!(
                m.input.is_empty(),
                !m.file.ends_with(".onnx") && !m.file.ends_with(".bin"),
                "{}",
                m.name
            );
            assert_eq!(m.labels.is_some(), m.labels_sha256.is_some(), "{}", m.name);
        }
    }
}
