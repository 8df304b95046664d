//! Where the tables live: `--out` as a local directory or an object-store URL, with its storage
//! options. [`Output`] parses and checks the location (without ever showing a secret), and hands
//! out a [`TableStore`] per table, through which workers write Parquet files and tools read them
//! back; the Delta log goes through delta-rs' log stores for the same URL and options
//! ([`crate::sink::delta`]).
//!
//! - local paths and `file://` URLs: plain files (the fast path, no object store in between);
//! - `az://container/path`, `azure://`, `abfs[s]://filesystem@account.dfs.core.windows.net/path`:
//!   Azure Blob / ADLS Gen2;
//! - `s3://bucket/path`, `s3a://`: S3 and S3-compatible stores (commits by conditional put).
//!
//! Credentials come from the environment variables object_store reads (`AZURE_STORAGE_*`,
//! `AWS_*`) and from storage options (`--storage-option KEY=VALUE`), spelled as object_store and
//! delta-rs spell them.
//!
//! Remote I/O runs on one shared multi-threaded runtime ([`runtime`]), so that connections pooled
//! by one caller stay usable by every other one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use deltalake::logstore::LogStoreRef;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use thiserror::Error;
use url::Url;

pub mod upload;

/// Errors of the storage layer; every message names the location without its secrets.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("--out {location}: unknown scheme '{scheme}' (use a local path, file://, az://, abfss://, or s3://)")]
    UnknownScheme { location: String, scheme: String },
    #[error("--out {location}: {message}")]
    Invalid { location: String, message: String },
    #[error("{location}: {source}")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {source}")]
    Delta {
        location: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
}

/// The schemes `--out` accepts besides local paths.
const REMOTE_SCHEMES: [&str; 7] = ["az", "azure", "adl", "abfs", "abfss", "s3", "s3a"];

/// The run's output location: a local directory or an object-store URL, and the storage
/// options that go with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    url: Url,
    local: Option<PathBuf>,
    options: HashMap<String, String>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("location", &self.to_string())
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The location without secrets: no password, no query (SAS tokens live there).
impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.local {
            Some(p) => write!(f, "{}", p.display()),
            None => f.write_str(&redact(&self.url)),
        }
    }
}

/// `url` without a password and without its query and fragment.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl From<PathBuf> for Output {
    fn from(path: PathBuf) -> Output {
        Output::local(path)
    }
}

impl From<&Output> for Output {
    fn from(out: &Output) -> Output {
        out.clone()
    }
}

impl From<&PathBuf> for Output {
    fn from(path: &PathBuf) -> Output {
        Output::local(path.clone())
    }
}

impl From<&Path> for Output {
    fn from(path: &Path) -> Output {
        Output::local(path.to_path_buf())
    }
}

fn register_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        deltalake::azure::register_handlers(None);
        deltalake::aws::register_handlers(None);
    });
}

impl Output {
    /// A local directory (made absolute against the current directory).
    pub fn local(path: PathBuf) -> Output {
        let abs = std::path::absolute(&path).unwrap_or(path);
        let url = Url::from_directory_path(&abs)
            .unwrap_or_else(|_| Url::parse("file:///").expect("a valid url"));
        Output {
            url,
            local: Some(abs),
            options: HashMap::new(),
        }
    }

    /// Parses `--out`: a URL with one of the accepted schemes, or else a local path.
    pub fn parse(location: &str) -> Result<Output, StorageError> {
        let Some((scheme, _)) = location.split_once("://") else {
            return Ok(Output::local(PathBuf::from(location)));
        };
        let shown = || match Url::parse(location) {
            Ok(u) => redact(&u),
            Err(_) => format!("{scheme}://..."),
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            let url = Url::parse(location).map_err(|e| StorageError::Invalid {
                location: shown(),
                message: format!("not a valid URL: {e}"),
            })?;
            let path = url.to_file_path().map_err(|_| StorageError::Invalid {
                location: shown(),
                message: "not a local file path".into(),
            })?;
            return Ok(Output::local(path));
        }
        if !REMOTE_SCHEMES.contains(&scheme.as_str()) {
            return Err(StorageError::UnknownScheme {
                location: shown(),
                scheme,
            });
        }
        let mut url = Url::parse(location).map_err(|e| StorageError::Invalid {
            location: shown(),
            message: format!("not a valid URL: {e}"),
        })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(StorageError::Invalid {
                location: shown(),
                message: "names no container or bucket".into(),
            });
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        register_handlers();
        Ok(Output {
            url,
            local: None,
            options: HashMap::new(),
        })
    }

    /// Adds storage options (`KEY=VALUE` as object_store and delta-rs spell them).
    pub fn with_options(mut self, options: impl IntoIterator<Item = (String, String)>) -> Output {
        self.options.extend(options);
        self
    }

    /// The storage options.
    pub fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The local directory, when the output is local.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// The location's URL (may hold secrets in its query: show [`Output`]'s `Display` instead).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of the table `name` (its directory under the output).
    pub fn table_url(&self, name: &str) -> Url {
        self.url
            .join(&format!("{name}/"))
            .expect("a table name is a valid path segment")
    }

    /// Where the table `name` is shown in messages (no secrets).
    pub fn table_display(&self, name: &str) -> String {
        match &self.local {
            Some(p) => p.join(name).display().to_string(),
            None => redact(&self.table_url(name)),
        }
    }

    /// delta-rs' log store for the table `name` (`""`: the output's root).
    pub fn log_store(&self, name: &str) -> Result<LogStoreRef, StorageError> {
        let url = if name.is_empty() {
            self.url.clone()
        } else {
            self.table_url(name)
        };
        deltalake::DeltaTableBuilder::from_url(url)
            .map(|b| b.with_storage_options(self.options.clone()))
            .and_then(|b| b.build_storage())
            .map_err(|source| StorageError::Delta {
                location: self.table_display(name),
                source,
            })
    }

    /// The store of the table `name`, for writing and reading its data files.
    pub fn table(&self, name: &str) -> Result<TableStore, StorageError> {
        let place = match &self.local {
            Some(dir) => Place::Local(dir.join(name)),
            None => Place::Remote(self.log_store(name)?.object_store(None)),
        };
        Ok(TableStore {
            name: name.to_string(),
            display: self.table_display(name),
            place,
        })
    }

    /// Whether the table `name` exists (has a Delta log).
    pub fn has_table(&self, name: &str) -> Result<bool, StorageError> {
        if let Some(dir) = &self.local {
            return Ok(dir.join(name).join("_delta_log").is_dir());
        }
        let store = self.log_store(name)?.object_store(None);
        let prefix = StorePath::from("_delta_log");
        let location = self.table_display(name);
        runtime().block_on(async {
            let mut listing = store.list(Some(&prefix));
            match futures::StreamExt::next(&mut listing).await {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                Some(Err(source)) => Err(StorageError::Store { location, source }),
            }
        })
    }

    /// The names of the tables (directories with a Delta log) at the output, sorted.
    pub fn table_names(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        if let Some(dir) = &self.local {
            let entries = std::fs::read_dir(dir).map_err(|source| StorageError::Io {
                location: dir.display().to_string(),
                source,
            })?;
            for e in entries.flatten() {
                if e.path().join("_delta_log").is_dir() {
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        } else {
            let store = self.log_store("")?.object_store(None);
            let listing = runtime()
                .block_on(store.list_with_delimiter(None))
                .map_err(|source| StorageError::Store {
                    location: self.to_string(),
                    source,
                })?;
            for prefix in listing.common_prefixes {
                if let Some(name) = prefix.filename() {
                    if !name.starts_with('_') && self.has_table(name)? {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Writes `bytes` as the file `path` (relative to the output, e.g. `_metrics/summary.json`).
    pub fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        if let Some(dir) = &self.local {
            let file = dir.join(path);
            let io = |source| StorageError::Io {
                location: file.display().to_string(),
                source,
            };
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            return std::fs::write(&file, bytes).map_err(io);
        }
        let store = self.log_store("")?.object_store(None);
        let at = StorePath::from(path);
        let location = format!("{self}{path}");
        runtime()
            .block_on(store.put(&at, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|source| StorageError::Store { location, source })
    }
}

/// Where a table's data files are.
#[derive(Clone)]
pub enum Place {
    /// The table's directory.
    Local(PathBuf),
    /// An object store rooted at the table.
    Remote(Arc<dyn ObjectStore>),
}

/// One table's data files: a local directory or a prefix of an object store. Cheap to clone.
#[derive(Clone)]
pub struct TableStore {
    name: String,
    display: String,
    place: Place,
}

impl std::fmt::Debug for TableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl TableStore {
    /// A table in a local directory.
    pub fn local(dir: PathBuf) -> TableStore {
        TableStore {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            display: dir.display().to_string(),
            place: Place::Local(dir),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the file `file` of this table is shown in messages.
    pub fn display_file(&self, file: &str) -> String {
        match &self.place {
            Place::Local(dir) => dir.join(file).display().to_string(),
            Place::Remote(_) => format!("{}{file}", self.display),
        }
    }

    /// Where the files are.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Reads the whole file `file` (relative to the table).
    pub fn read(&self, file: &str) -> Result<bytes::Bytes, StorageError> {
        let location = self.display_file(file);
        match &self.place {
            Place::Local(dir) => std::fs::read(dir.join(file))
                .map(bytes::Bytes::from)
                .map_err(|source| StorageError::Io { location, source }),
            Place::Remote(store) => runtime()
                .block_on(async { store.get(&StorePath::from(file)).await?.bytes().await })
                .map_err(|source| StorageError::Store { location, source }),
        }
    }

    /// Deletes the file `file` (relative to the table); a missing file is not an error.
    pub fn delete(&self, file: &str) -> Result<(), StorageError> {
        let location = self.display_file(file);
        match &self.place {
            Place::Local(dir) => match std::fs::remove_file(dir.join(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Io {
                    location,
                    source: e,
                }),
                _ => Ok(()),
            },
            Place::Remote(store) => {
                match runtime().block_on(store.delete(&StorePath::from(file))) {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(source) => Err(StorageError::Store { location, source }),
                }
            }
        }
    }
}

/// The shared runtime for remote storage and Delta I/O.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("medallion-io")
            .enable_all()
            .build()
            .expect("the storage runtime starts")
    })
}

/// Parses a `KEY=VALUE` storage option.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "expected KEY=VALUE, got '{}'",
            s.split('=').next().unwrap_or("")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_file_urls_are_local() {
        let o = Output::parse("some/dir").unwrap();
        assert!(o.local_dir().unwrap().ends_with("some/dir"));
        let o = Output::parse("file:///tmp/x").unwrap();
        assert_eq!(o.local_dir().unwrap(), Path::new("/tmp/x"));
    }

    #[test]
    fn unknown_schemes_are_refused_by_name() {
        let e = Output::parse("gopher://host/x").unwrap_err().to_string();
        assert!(e.contains("unknown scheme 'gopher'"), "{e}");
    }

    #[test]
    fn secrets_never_show() {
        let o = Output::parse("az://user:hunter2@container/path?sig=SECRET").unwrap();
        let shown = format!("{o} {o:?} {}", o.table_display("bronze"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("SECRET"),
            "{shown}"
        );
        assert_eq!(o.table_url("bronze").path(), "/path/bronze/");
        let o = o.with_options([("azure_storage_account_key".into(), "KEY123".into())]);
        assert!(!format!("{o:?}").contains("KEY123"));
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_option("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_option("novalue").is_err());
    }
}
