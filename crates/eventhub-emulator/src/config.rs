//! Emulator configuration: hubs, bind address, port, data directory, SAS key.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    str::FromStr,
};

use crate::error::EmulatorError;

/// The consumer group every hub has.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

/// The key value advertised in the emulator connection string.
pub const DEFAULT_SAS_KEY_NAME: &str = "RootManageSharedAccessKey";

/// Placeholder key used in the connection string when no key is configured.
pub const DEFAULT_SAS_KEY_VALUE: &str = "SAS_KEY_VALUE";

/// One event hub: `NAME:PARTITIONS[:CG1,CG2,...]`.
///
/// `$Default` is always a consumer group; the optional third part lists
/// additional consumer groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpec {
    /// Event hub name (the AMQP address prefix).
    pub name: String,
    /// Number of partitions, ids `0..partitions`.
    pub partitions: u32,
    /// Extra consumer groups besides `$Default`.
    pub consumer_groups: Vec<String>,
}

impl HubSpec {
    /// A hub with the given name and partition count and only `$Default`.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        Self {
            name: name.into(),
            partitions,
            consumer_groups: Vec::new(),
        }
    }
}

impl FromStr for HubSpec {
    type Err = EmulatorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| EmulatorError::InvalidHubSpec {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = s.splitn(3, ':');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() || name.contains('/') {
            return Err(bad("hub name must be non-empty and contain no '/'"));
        }
        let partitions = match parts.next() {
            Some(p) => p
                .trim()
                .parse::<u32>()
                .map_err(|_| bad("partition count must be a positive integer"))?,
            None => return Err(bad("expected NAME:PARTITIONS")),
        };
        if partitions == 0 || partitions > 1024 {
            return Err(bad("partition count must be between 1 and 1024"));
        }
        let consumer_groups = parts
            .next()
            .map(|cgs| {
                cgs.split(',')
                    .map(str::trim)
                    .filter(|cg| !cg.is_empty() && *cg != DEFAULT_CONSUMER_GROUP)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            name: name.to_string(),
            partitions,
            consumer_groups,
        })
    }
}

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (loopback by default).
    pub bind: IpAddr,
    /// Port to listen on; `0` picks a free port.
    pub port: u16,
    /// Hubs to serve.
    pub hubs: Vec<HubSpec>,
    /// Directory for the file-backed partition logs; `None` keeps events in memory.
    pub data_dir: Option<PathBuf>,
    /// When set, `$cbs` put-token requests must carry a SAS token signed with this key.
    pub sas_key: Option<String>,
    /// Events enqueued longer ago than this leave the partitions, as Event Hubs' retention
    /// period; `None` keeps every event.
    pub retention: Option<std::time::Duration>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5672,
            hubs: vec![HubSpec::new("weather", 8)],
            data_dir: None,
            sas_key: None,
            retention: None,
        }
    }
}

impl EmulatorConfig {
    /// Checks the configuration for duplicate or missing hubs.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        if self.hubs.is_empty() {
            return Err(EmulatorError::InvalidConfig("no hubs configured".into()));
        }
        let mut names: Vec<&str> = self.hubs.iter().map(|h| h.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].eq_ignore_ascii_case(w[1])) {
            return Err(EmulatorError::InvalidConfig(format!(
                "hub {:?} configured twice",
                w[0]
            )));
        }
        Ok(())
    }
}

/// Command-line arguments of `medallion emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Port to listen on (plain AMQP and TLS on the same port; 0 = any free port).
    #[arg(long, default_value_t = 5672)]
    pub port: u16,
    /// Event hub as NAME:PARTITIONS[:CG1,CG2] (repeatable; default weather:8).
    #[arg(long = "hub", value_name = "NAME:PARTITIONS")]
    pub hubs: Vec<HubSpec>,
    /// Keep events in append-only files under this directory (survives restarts).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Check SAS tokens against this key, as Event Hubs does: links need a token for their hub
    /// put on $cbs, and a consumer link is closed when its token expires unrenewed.
    #[arg(long, env = "EMULATOR_SAS_KEY")]
    pub sas_key: Option<String>,
    /// Drop events enqueued longer ago than this (e.g. 10m, 1h), as an Event Hubs partition
    /// does after its retention period: memory stays bounded on long runs, and a reader asking
    /// for an expired position gets the earliest retained event. Default: keep every event.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub retention: Option<std::time::Duration>,
}

impl From<EmulatorArgs> for EmulatorConfig {
    fn from(args: EmulatorArgs) -> Self {
        let defaults = EmulatorConfig::default();
        Self {
            bind: args.bind,
            port: args.port,
            hubs: if args.hubs.is_empty() {
                defaults.hubs
            } else {
                args.hubs
            },
            data_dir: args.data_dir,
            sas_key: args.sas_key,
            retention: args.retention,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_specs() {
        let h: HubSpec = "weather:8".parse().unwrap();
        assert_eq!(h, HubSpec::new("weather", 8));
        let h: HubSpec = "a:2:cg1, cg2".parse().unwrap();
        assert_eq!(
            h.consumer_groups,
            vec!["cg1".to_string(), "cg2".to_string()]
        );
        assert!("weather".parse::<HubSpec>().is_err());
        assert!("weather:0".parse::<HubSpec>().is_err());
        assert!(":3".parse::<HubSpec>().is_err());
        assert!("w:x".parse::<HubSpec>().is_err());
    }

    #[test]
    fn rejects_duplicate_hubs() {
        let cfg = EmulatorConfig {
            hubs: vec![HubSpec::new("a", 1), HubSpec::new("A", 2)],
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }
}
