//! Pipeline files: one YAML file that declares a pipeline — the event (fields and types, id,
//! time, key), the checks (a DQX check file, or inline), the views, and the run settings (any
//! `medallion run` option, under `run:`) — so that a team runs its own events with no Rust.
//!
//! Owns reading and checking a file ([`PipelineFile::parse`], which reports every problem with
//! its key path and line, [`Problem`]) and applying it to a [`RunConfig`]
//! ([`PipelineFile::apply`]). The `run:` settings are the command line's business (the binary
//! turns them into options, below its flags and `MEDALLION_*` variables); this module only keeps
//! them. The reference weather pipeline is `pipelines/weather.yml` ([`WEATHER_PIPELINE`]).
//! The JSON Schema of the format is `docs/pipeline.schema.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::{Mapping, Value};

use super::config::RunConfig;
use crate::event::{EventDecl, EventSchema};
use crate::quality::{LoadOptions, QualityError, RuleSet};
use crate::sink::tables::{silver_schema_for, SilverRoles, TableKind};
use crate::views::declared::ViewDecl;
use crate::views::station::weather_column_missing;

pub use crate::event::WEATHER_PIPELINE;

mod locate;
mod shape;

pub use locate::line_of;

/// One problem of a pipeline file: where (key path and line) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The key path, e.g. `views[1].window` (empty: the whole file).
    pub key: String,
    /// 1-based line, where it could be told.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem of a file, and its name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {} problem{}:\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" },
    .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PipelineFileError {
    pub origin: String,
    pub problems: Vec<Problem>,
}

/// Where a pipeline's checks come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ChecksSource {
    /// A check file (a path relative to the pipeline file is resolved against its folder).
    File(PathBuf),
    /// The checks written in the pipeline file, as YAML text.
    Inline(String),
    /// The reference weather checks compiled in (the built-in pipeline's `../assets/checks.yml`).
    Builtin,
}

/// A pipeline file, read and checked.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    pub event: Arc<EventSchema>,
    /// `None`: no `checks:` (no rules beyond parsing).
    pub checks: Option<ChecksSource>,
    pub views: Vec<ViewDecl>,
    /// The `run:` settings as written (option name → value), with their lines.
    pub run: Vec<(String, Value, Option<usize>)>,
}

impl PipelineFile {
    /// The built-in weather pipeline.
    pub fn weather() -> PipelineFile {
        PipelineFile::parse(WEATHER_PIPELINE, None).expect("pipelines/weather.yml is valid")
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<PipelineFile, PipelineFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineFileError {
            origin: path.display().to_string(),
            problems: vec![Problem {
                key: String::new(),
                line: None,
                message: format!("cannot read the file: {e}"),
            }],
        })?;
        let dir = path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
        PipelineFile::parse(&text, dir).map_err(|problems| PipelineFileError {
            origin: path.display().to_string(),
            problems,
        })
    }

    /// Reads and checks a file's text; `dir` is its folder (`None`: the built-in pipeline, whose
    /// check file is compiled in). `Err` lists every problem found.
    pub fn parse(text: &str, dir: Option<&Path>) -> Result<PipelineFile, Vec<Problem>> {
        let at = |key: &str, message: String| Problem {
            key: key.to_string(),
            line: line_of(text, key),
            message,
        };
        let doc: Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![Problem {
                    key: String::new(),
                    line: e.location().map(|l| l.line()),
                    message: format!("not valid YAML: {e}"),
                }])
            }
        };
        let mut problems: Vec<Problem> = shape::problems(&doc)
            .into_iter()
            .map(|(k, m)| at(&k, m))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let top = doc.as_mapping().expect("shape checked");
        let event: EventDecl = serde_yaml::from_value(top["event"].clone())
            .map_err(|e| vec![at("event", e.to_string())])?;
        let resolved = EventSchema::check(&event);
        for e in &resolved {
            let text_of = e.to_string();
            let (key, message) = text_of.split_once(": ").unwrap_or(("event", &text_of));
            problems.push(at(key, message.to_string()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let event = Arc::new(EventSchema::new(event).expect("checked"));
        let checks = checks_of(top.get("checks"), dir, &event, &mut problems, &at);
        let views = views_of(top.get("views"), &event, &mut problems, &at);
        let run = match top.get("run") {
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| {
                    let k = k.as_str().unwrap_or_default().to_string();
                    let line = line_of(text, &format!("run.{k}"));
                    (k, v.clone(), line)
                })
                .collect(),
            _ => Vec::new(),
        };
        if problems.is_empty() {
            Ok(PipelineFile {
                event,
                checks,
                views,
                run,
            })
        } else {
            Err(problems)
        }
    }

    /// Applies the file's event, checks and views to `cfg` (the run settings are the caller's).
    pub fn apply(&self, cfg: &mut RunConfig) -> Result<(), String> {
        cfg.event = self.event.clone();
        match &self.checks {
            Some(ChecksSource::File(p)) => {
                cfg.checks = Some(p.clone());
                cfg.inline_checks = None;
            }
            Some(ChecksSource::Inline(text)) => cfg.inline_checks = Some(text.clone()),
            Some(ChecksSource::Builtin) => {
                cfg.checks = None;
                cfg.inline_checks = None;
            }
            None => cfg.inline_checks = Some("[]".into()),
        }
        cfg.views = self.views.iter().filter_map(ViewDecl::builtin).collect();
        let silver = silver_schema_for(&self.event);
        let roles = SilverRoles::of(&self.event);
        let declared = crate::views::declared::build(&self.views, &silver, &roles)?;
        cfg.custom_views.0.extend(declared);
        Ok(())
    }
}

/// The checks of a file: resolved, and loaded strictly against the parsed event's schema (a
/// check naming an unknown column is a problem).
fn checks_of(
    value: Option<&Value>,
    dir: Option<&Path>,
    event: &EventSchema,
    problems: &mut Vec<Problem>,
    at: &dyn Fn(&str, String) -> Problem,
) -> Option<ChecksSource> {
    let opts = LoadOptions::strict_for(event.parsed_schema());
    let (source, loaded) = match value? {
        Value::String(p) => match dir {
            None => (
                ChecksSource::Builtin,
                RuleSet::from_yaml_str(super::config::DEFAULT_CHECKS, &opts),
            ),
            Some(dir) => {
                let path = dir.join(p);
                if !path.is_file() {
                    problems.push(at(
                        "checks",
                        format!("check file {} does not exist", path.display()),
                    ));
                    return None;
                }
                let loaded = RuleSet::from_path(&path, &opts);
                (ChecksSource::File(path), loaded)
            }
        },
        list => {
            let text = serde_yaml::to_string(list).expect("YAML values serialize");
            let loaded = RuleSet::from_yaml_str(&text, &opts);
            (ChecksSource::Inline(text), loaded)
        }
    };
    match loaded {
        Ok(_) => {}
        Err(QualityError::InvalidChecks(errors)) => {
            for e in errors.0.iter() {
                let key = match &source {
                    ChecksSource::Inline(_) => format!("checks[{}]", e.index),
                    _ => "checks".to_string(),
                };
                problems.push(at(&key, e.to_string()));
            }
        }
        Err(e) => problems.push(at("checks", e.to_string())),
    }
    Some(source)
}

/// The views of a file, each checked against silver's schema.
fn views_of(
    value: Option<&Value>,
    event: &EventSchema,
    problems: &mut Vec<Problem>,
    at: &dyn Fn(&str, String) -> Problem,
) -> Vec<ViewDecl> {
    let Some(Value::Sequence(items)) = value else {
        return Vec::new();
    };
    let silver = silver_schema_for(event);
    let roles = SilverRoles::of(event);
    let mut views: Vec<ViewDecl> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("views[{i}]");
        let view: ViewDecl = match serde_yaml::from_value(item.clone()) {
            Ok(v) => v,
            Err(e) => {
                problems.push(at(&key, e.to_string()));
                continue;
            }
        };
        for (k, m) in view.problems(&silver, &roles) {
            let sep = if k.starts_with('[') || k.starts_with('.') {
                ""
            } else {
                "."
            };
            problems.push(at(&format!("{key}{sep}{k}"), m));
        }
        if let Some(kind) = view.builtin() {
            if kind != crate::views::ViewKind::QualityByWindow {
                if let Some(gap) = weather_column_missing(event) {
                    problems.push(at(
                        &format!("{key}.kind"),
                        format!(
                            "{} reads the weather event's columns; this event lacks {gap}",
                            kind.name()
                        ),
                    ));
                }
            }
        }
        let clash = TableKind::ALL.iter().any(|t| t.name() == view.name())
            || view.name() == "dataset_checks"
            || view.name().ends_with("_changes")
            || views.iter().any(|v| v.name() == view.name());
        if clash {
            problems.push(at(
                &format!("{key}.name"),
                format!("'{}' is the name of another table", view.name()),
            ));
        }
        views.push(view);
    }
    views
}

/// The top-level keys of a pipeline file.
pub const TOP_KEYS: [&str; 4] = ["event", "checks", "views", "run"];

/// A mapping's keys that are not in `known`, as key paths under `at`.
fn unknown_keys(map: &Mapping, known: &[&str], at: &str) -> Vec<(String, String)> {
    map.keys()
        .filter_map(|k| {
            let name = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{k:?}"));
            (!known.contains(&name.as_str())).then(|| {
                let key = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                (
                    key,
                    format!("unknown key '{name}'; expected one of {}", known.join(", ")),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
