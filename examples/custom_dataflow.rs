//! A custom dataflow built from medallion's stages: the standard bronze / quarantine / silver /
//! quality outputs, plus a step of our own between silver and a custom sink — a Fahrenheit column
//! and an extra quality rule on it — whose rows go to Parquet files under `<out>/silver_f/`.
//!
//!     cargo run --release --example custom_dataflow -- [OUT_DIR]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use medallion::dataflow::operators::{CommitStats, QualityState};
use medallion::dataflow::run::{feed_partitions, load_rules, open_readers, open_source};
use medallion::dataflow::*;
use medallion::metrics::RunMetrics;
use medallion::quality::{EvalContext, LoadOptions, RuleSet};
use medallion::sink::{DeltaTables, TableKind};
use timely::dataflow::operators::{Concat, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// Our extra rule, in DQX's format, on the column our step adds.
const EXTRA_CHECKS: &str = r#"
- name: temperature_f_above_95
  criticality: warn
  check:
    function: is_not_greater_than
    arguments:
      column: temperature_f
      limit: 95
"#;

/// Our step: add `temperature_f` to a silver batch.
fn with_fahrenheit(batch: &RecordBatch) -> RecordBatch {
    let c = batch
        .column_by_name("temperature_c")
        .expect("silver has temperature_c")
        .as_primitive::<Float64Type>();
    let f: Float64Array = c.iter().map(|v| v.map(|c| c * 9.0 / 5.0 + 32.0)).collect();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("temperature_f", DataType::Float64, true));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(f));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("schema matches")
}

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "custom-dataflow-data".into()),
    );
    // The example starts from scratch each time (see `medallion run` for resuming).
    let _ = std::fs::remove_dir_all(&out);
    let cfg = RunConfig {
        events: 50_000,
        stations: 500,
        partitions: 4,
        out: out.clone(),
        ..RunConfig::default()
    };
    let now = chrono::Utc::now();
    let rules = Arc::new(load_rules(None)?);
    let extra = Arc::new(RuleSet::from_yaml_str(
        EXTRA_CHECKS,
        &LoadOptions::default(),
    )?);
    let source = open_source(&cfg, now)?;
    let partitions: Vec<u32> = source.partitions().iter().map(|p| p.0).collect();
    std::fs::create_dir_all(out.join("silver_f"))?;
    let tables = Arc::new(Mutex::new(Some(DeltaTables::open(
        &out,
        &partitions,
        true,
    )?)));
    let eval = EvalContext {
        now,
        run_time: now,
        run_id: "custom-example".into(),
    };
    let ctx = ProcessContext {
        rules: rules.clone(),
        eval: eval.clone(),
        window_ms: cfg.window_ms,
    };
    let mut names = vec![("parse".to_string(), "error".to_string())];
    names.extend(rules.rules().iter().map(|r| {
        (
            r.name().to_string(),
            format!("{:?}", r.criticality()).to_lowercase(),
        )
    }));
    let flagged = Arc::new(Mutex::new(0usize));
    let metrics = Arc::new(RunMetrics::default());
    let stats = Arc::new(Mutex::new(CommitStats::default()));
    let quality: QualityState = Arc::new(Mutex::new(BTreeMap::new()));
    let counter = flagged.clone();

    timely::execute(timely::Config::process(2), move |worker| {
        let committer = tables.lock().unwrap().take();
        let mut input = InputHandleVec::new();
        let probe = ProbeHandle::new();
        let (ctx, extra, eval, counter, out) = (
            ctx.clone(),
            extra.clone(),
            eval.clone(),
            counter.clone(),
            out.clone(),
        );
        worker.dataflow::<Time, _, _>(|scope| {
            let processed =
                input
                    .to_stream(scope)
                    .process(ctx, Arc::new(BTreeMap::new()), metrics.clone());
            let positions = processed.clone().positions();
            let bronze = processed
                .clone()
                .table_rows(TableKind::Bronze)
                .write_table(TableKind::Bronze, out.join("bronze"));
            let winners = processed.clone().dedup_winners(2 * 3_600_000, Vec::new());
            let silver = processed.clone().silver_rows(winners);
            // Our own step between silver and our sink: Fahrenheit + the extra rule.
            let silver_f_dir = out.join("silver_f");
            silver.clone().inspect(move |batch: &RecordBatch| {
                let batch = with_fahrenheit(batch);
                let eval = extra.evaluate(&batch, &eval).expect("extra rule evaluates");
                *counter.lock().unwrap() += eval.failed_count[0] as usize;
                medallion::sink::parquet::write_file(&silver_f_dir, &[batch])
                    .expect("custom sink writes");
            });
            let silver = silver.write_table(TableKind::Silver, out.join("silver"));
            let quarantine = processed
                .clone()
                .table_rows(TableKind::Quarantine)
                .write_table(TableKind::Quarantine, out.join("quarantine"));
            let quality_files = processed.quality_counts(Vec::new()).write_quality(
                out.join("quality"),
                names.clone(),
                Vec::new(),
                60_000,
                quality.clone(),
            );
            positions
                .concat(bronze)
                .concat(silver)
                .concat(quarantine)
                .concat(quality_files)
                .commit(committer, metrics.clone(), stats.clone())
                .probe_with(&probe);
        });
        let readers = open_readers(
            source.as_ref(),
            worker.index(),
            worker.peers(),
            &BTreeMap::new(),
        )
        .expect("partitions open");
        feed_partitions(worker, input, &probe, readers, 100, 4096).expect("sources read");
    })
    .map_err(|e| anyhow::anyhow!(e))?
    .join();

    println!(
        "silver rows above 95 °F (our extra rule): {}",
        flagged.lock().unwrap()
    );
    println!(
        "Delta tables and silver_f/ written under {}",
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "custom-dataflow-data".into())
    );
    Ok(())
}
