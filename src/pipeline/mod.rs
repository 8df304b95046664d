//! Running the pipeline, in layers (as timely's `execute`): [`run`] takes a [`RunConfig`],
//! starts the embedded hub when asked, and calls [`run_plan`]; [`Plan::new`] plans the run
//! (rules, source, table catalog, resume positions, state to restore); [`run_plan`] starts the
//! timely workers, each of which builds [`standard_dataflow`] on its input and feeds it the
//! partitions it owns ([`feed_partitions`]); the summary is gathered at the end. A library user
//! who adds a step calls [`run_plan_with`], which hands the standard streams to their closure.
//!
//! - [`config`]: [`RunConfig`], [`SourceSpec`], [`EventHubSpec`], [`ProgressMode`];
//! - [`source`]: the rule set and the source of a run;
//! - [`plan`]: [`Plan`], the table catalog and resume positions;
//! - [`restore`]: the committed state the stateful stages restart from;
//! - [`build`]: [`standard_dataflow`];
//! - [`feed`]: the worker's input loop;
//! - [`embedded`]: the embedded emulator and producer of the default run;
//! - [`summary`]: [`RunSummary`].

use std::net::SocketAddr;

use crate::telemetry::MetricsServer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use timely::dataflow::operators::{Concat, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, StreamVec};

pub mod build;
pub mod cli;
pub mod config;
pub mod embedded;
pub mod feed;
pub mod file;
pub mod plan;
pub mod restore;
pub mod source;
pub mod stop;
pub mod summary;

pub use build::{standard_dataflow, Standard};
pub use config::{EventHubSpec, ProgressMode, RunConfig, SourceSpec, DEFAULT_CHECKS};
pub use embedded::EmbeddedHub;
pub use feed::{feed_partitions, open_readers, FeedOptions, DEFAULT_LINGER};
pub use plan::{view_schema, DataflowPlan, Plan};
pub use restore::Restored;
pub use source::{load_rules, load_run_rules, open_source};
pub use stop::Stop;
pub use summary::RunSummary;

use crate::dataflow::{Commit, DedupAnchors};
use crate::epoch::Time;
use crate::metrics::{peak_rss_bytes, Percentiles};
use crate::sink::EpochReport;
use crate::{Error, Result};
use config::process_info;

/// Runs the pipeline to the end of a bounded source and returns the summary (on process 0;
/// other processes return their own partial view).
pub fn run(cfg: RunConfig) -> Result<RunSummary> {
    if cfg.source == SourceSpec::Embedded {
        return run_embedded(cfg);
    }
    run_plan(Plan::new(cfg)?)
}

/// [`run`] with [`SourceSpec::Embedded`]: the emulator and producer in this process.
fn run_embedded(cfg: RunConfig) -> Result<RunSummary> {
    let (_, _, processes) = process_info(&cfg.timely);
    if processes > 1 {
        return Err(Error::Config(
            "the embedded emulator runs inside one process; for a cluster give --source eventhub --connection-string ... (e.g. of `medallion emulator`) or file:PATH".into(),
        ));
    }
    if cfg.out.has_table("bronze")? {
        return Err(Error::Config(format!(
            "{} already holds the tables of an earlier run, and the embedded hub starts empty each time: pass another --out, remove {0}, or read a persistent hub (`medallion emulator --data-dir`) with --source eventhub",
            cfg.out
        )));
    }
    let now = cfg.now.unwrap_or_else(Utc::now);
    let hub = EmbeddedHub::start(&cfg, now)?;
    let inner = RunConfig {
        source: SourceSpec::EventHub(hub.source()),
        now: Some(now),
        ..cfg
    };
    let mut summary = run(inner)?;
    let sent = hub.finish()?;
    summary.source = format!(
        "the embedded emulator ({} events produced at {:.0} events/s)",
        sent.events, sent.events_per_sec
    );
    Ok(summary)
}

/// Runs a planned run with the standard dataflow.
pub fn run_plan(plan: Plan) -> Result<RunSummary> {
    run_plan_with(plan, |_| Vec::new())
}

/// Runs a planned run; on every worker, `extend` gets the standard dataflow's streams and
/// returns the reports of any tables of its own (added to `plan.catalog` before the run) for the
/// committer. Steps that write elsewhere, or only observe, return nothing.
pub fn run_plan_with<F>(mut plan: Plan, extend: F) -> Result<RunSummary>
where
    F: for<'s> Fn(&Standard<'s>) -> Vec<StreamVec<'s, Time, EpochReport>> + Send + Sync + 'static,
{
    let (threads, process, processes) = process_info(&plan.config.timely);
    let peers = threads * processes;
    let _metrics_server = match plan.config.metrics_addr {
        Some(addr) => {
            let addr = SocketAddr::new(addr.ip(), addr.port().saturating_add(process as u16));
            Some(
                MetricsServer::start(addr, plan.config.health_stale).map_err(|source| {
                    Error::Io {
                        path: format!("metrics endpoint {addr}"),
                        source,
                    }
                })?,
            )
        }
        None => None,
    };
    let tables: Vec<String> = plan
        .catalog
        .iter()
        .map(|(_, spec)| spec.name.clone())
        .collect();
    let partitions: Vec<u32> = plan
        .source
        .partitions()
        .into_iter()
        .filter(|&p| crate::source::worker_for(p, peers) / threads == process)
        .map(|p| p.0)
        .collect();
    crate::telemetry::events::RunStarted {
        tables: &tables,
        partitions: &partitions,
        labels: &crate::telemetry::events::RuleLabels::of(&plan.rules),
    }
    .emit();
    let _compactor = match plan.config.compact_every {
        Some(every) if process == 0 => {
            Some(crate::maintenance::Compactor::start(
                plan.config.out.clone(),
                tables
                    .iter()
                    .filter(|name| crate::maintenance::is_append_only(name))
                    .cloned()
                    .collect(),
                every,
                // Closed: older than an interval (at most a minute).
                crate::maintenance::CompactOptions {
                    min_age: every.min(std::time::Duration::from_secs(60)),
                    ..Default::default()
                },
                tables.to_vec(),
                // The retention was checked where it was set (the CLI refuses one under
                // MIN_RETENTION without --vacuum-force).
                crate::maintenance::VacuumOptions {
                    retention: plan.config.vacuum_retention,
                    force: true,
                    log_retention: Some(
                        plan.config
                            .vacuum_retention
                            .min(crate::sink::delta::DEFAULT_TOMBSTONE_RETENTION),
                    ),
                    ..Default::default()
                },
            ))
        }
        _ => None,
    };
    let committer = Arc::new(Mutex::new(plan.tables.take()));
    let restored = Arc::new(Mutex::new(plan.restored.take()));
    let progress = (process == 0 && plan.config.progress != ProgressMode::Off).then(|| {
        crate::metrics::progress::Progress::start(
            plan.dataflow.metrics.clone(),
            plan.source.len_hint(),
            plan.config.progress == ProgressMode::Lines,
        )
    });
    let started = Instant::now();
    let (dataflow, stats, source) = (
        plan.dataflow.clone(),
        plan.stats.clone(),
        plan.source.clone(),
    );
    let starts = Arc::new(plan.starts.clone());
    let mut feed = FeedOptions::new(plan.config.epoch, plan.config.batch_size);
    feed.linger = plan.config.batch_linger;
    feed.failure = plan.failure.clone();
    feed.stop = plan.config.stop.clone();
    let config = timely::Config {
        communication: plan.config.timely.clone(),
        worker: timely::WorkerConfig::default(),
    };
    let guards = timely::execute(config, move |worker| -> Result<()> {
        let index = worker.index();
        let tables = if index == 0 { take(&committer) } else { None };
        let mut restored = if index == 0 { take(&restored) } else { None };
        let anchors = restored
            .as_mut()
            .and_then(|r| r.anchors.take())
            .unwrap_or_else(|| DedupAnchors::new(dataflow.horizon_ms));
        let mut input = InputHandleVec::<Time, crate::source::RawBatch>::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Time, _, _>(|scope| {
            let standard = standard_dataflow(
                input.to_stream(scope),
                &dataflow,
                restored.unwrap_or_default(),
            );
            let mut reports = standard.reports.clone();
            for extra in extend(&standard) {
                reports = reports.concat(extra);
            }
            reports
                .commit(
                    tables,
                    dataflow.metrics.clone(),
                    stats.clone(),
                    feed.failure.clone(),
                    anchors,
                    dataflow.deferred_views.clone(),
                )
                .probe_with(&probe);
        });
        let readers = open_readers(source.as_ref(), index, worker.peers(), &starts)?;
        feed_partitions(worker, input, &probe, readers, &feed)
    })
    .map_err(|e| Error::Config(format!("cannot start timely workers: {e}")))?;
    let results = guards.join();
    if let Some(e) = plan.failure.take() {
        return Err(e.into());
    }
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(message) => return Err(Error::Worker { index: i, message }),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(progress);
    let summary = summarize(&plan, peers, processes, process, seconds);
    if process == 0 {
        summary::write_metrics(&plan.config.out, &plan.dataflow.metrics, &summary)?;
    }
    Ok(summary)
}

/// Takes what a slot holds (what process 0 hands to its worker 0).
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// The run summary from the committer's statistics and the run's metrics.
fn summarize(
    plan: &Plan,
    peers: usize,
    processes: usize,
    process: usize,
    seconds: f64,
) -> RunSummary {
    let stats = plan.stats.lock().map(|s| s.clone()).unwrap_or_default();
    let tables = plan
        .summary_tables
        .iter()
        .map(|&id| (plan.catalog.spec(id).name.clone(), stats.rows_of(id)))
        .collect();
    let mut rules: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    if let Ok(state) = plan.dataflow.quality_state.lock() {
        for (r, (e, f)) in state.iter() {
            let slot = rules
                .entry(summary::rule_names_of(&plan.rules, *r))
                .or_default();
            slot.0 += e;
            slot.1 += f;
        }
    }
    let metrics = &plan.dataflow.metrics;
    // On the committer's process, count what the whole cluster committed; elsewhere, what this
    // process read.
    let counter = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let (events, bytes) = if process == 0 {
        (
            counter(&metrics.events_committed_total),
            counter(&metrics.bytes_committed_total),
        )
    } else {
        (counter(&metrics.events_read), counter(&metrics.bytes_read))
    };
    let percentiles = |h: &Mutex<hdrhistogram::Histogram<u64>>| {
        h.lock().map(|h| Percentiles::of(&h)).unwrap_or_default()
    };
    RunSummary {
        source: plan.config.source.describe(),
        workers: peers,
        processes,
        events_read: events,
        body_bytes: bytes,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        mb_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
        tables,
        rules,
        epochs: stats.epochs,
        commits: stats.commits,
        batch_latency_us: percentiles(&metrics.batch_latency_us),
        commit_latency_us: percentiles(&metrics.commit_latency_us),
        end_to_end_latency_ms: percentiles(&metrics.e2e_latency_ms),
        peak_rss_bytes: peak_rss_bytes(),
        events_per_second_series: metrics
            .per_second
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default(),
        stopped_after_reading: plan
            .config
            .stop
            .is_requested()
            .then(|| counter(&metrics.events_read)),
    }
}
