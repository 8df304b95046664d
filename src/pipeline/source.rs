//! Opening what a run reads: the rule set and the configured source.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::config::{RunConfig, SourceSpec, DEFAULT_CHECKS};
use crate::eventhub::{EventHubSource, EventHubSourceConfig};
use crate::quality::{LoadOptions, RuleSet};
use crate::source::PartitionedSource;
use crate::{Error, Result};

/// Loads a check file (`None`: the reference checks compiled in).
pub fn load_rules(checks: Option<&Path>) -> Result<RuleSet> {
    let opts = LoadOptions::default();
    Ok(match checks {
        Some(p) => RuleSet::from_path(p, &opts)?,
        None => RuleSet::from_yaml_str(DEFAULT_CHECKS, &opts)?,
    })
}

/// Loads the rule set of a run: its inline checks (a pipeline file's), else its check file,
/// else the reference checks compiled in.
pub fn load_run_rules(cfg: &RunConfig) -> Result<RuleSet> {
    match &cfg.inline_checks {
        Some(text) => Ok(RuleSet::from_yaml_str(text, &LoadOptions::default())?),
        None => load_rules(cfg.checks.as_deref()),
    }
}

/// The `now` of a generated file (`FILE.meta.json`), if it has one.
pub fn now_from_meta(path: &Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(format!("{}.meta.json", path.display())).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    DateTime::parse_from_rfc3339(v.get("now")?.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Opens the configured source (not [`SourceSpec::Embedded`], which `run` starts itself).
pub fn open_source(cfg: &RunConfig, now: DateTime<Utc>) -> Result<Arc<dyn PartitionedSource>> {
    Ok(match &cfg.source {
        SourceSpec::Generator => {
            let wl = crate::workload::WorkloadConfig {
                events: cfg.events,
                stations: cfg.stations,
                seed: cfg.seed,
                now_ms: now.timestamp_millis(),
                ..Default::default()
            };
            let source = crate::source::generator::GeneratorSource::new(wl, cfg.partitions)?;
            Arc::new(match cfg.rate {
                Some(rate) => source.with_rate(rate)?,
                None => source,
            })
        }
        SourceSpec::File(p) => Arc::new(crate::source::file::FileSource::open_keyed(
            p,
            cfg.partitions,
            crate::source::file::KeyScan::for_key(cfg.event.key_name()),
        )?),
        SourceSpec::EventHub(h) => {
            if h.connection_string.is_empty() {
                return Err(Error::Config(
                    "--source eventhub needs --connection-string (or EVENTHUB_CONNECTION_STRING)"
                        .into(),
                ));
            }
            let mut c = EventHubSourceConfig::new(h.connection_string.clone(), "");
            c.hub = h.hub.clone();
            if let Some(cg) = &h.consumer_group {
                c.consumer_group = cg.clone();
            }
            c.start = h.start;
            c.stop_when_idle = h.stop_when_idle;
            Arc::new(EventHubSource::connect(c)?)
        }
        SourceSpec::Embedded => {
            return Err(Error::Config(
                "the embedded source is started by `run` (see EmbeddedHub)".into(),
            ))
        }
    })
}
