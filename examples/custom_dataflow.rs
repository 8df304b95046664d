//! A custom dataflow: medallion's standard dataflow (bronze / quarantine / silver / quality and
//! the views, committed exactly once), plus a step of our own on silver — a Fahrenheit column and
//! an extra quality rule on it — whose rows go to Parquet files under `<out>/silver_f/`.
//!
//!     cargo run --release --example custom_dataflow -- [OUT_DIR]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use medallion::pipeline::{run_plan_with, Plan, RunConfig};
use medallion::quality::{LoadOptions, RuleSet};
use timely::dataflow::operators::Inspect;

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
    let plan = Plan::new(RunConfig {
        events: 50_000,
        stations: 500,
        partitions: 4,
        out: out.clone().into(),
        timely: timely::CommunicationConfig::Process(2),
        ..RunConfig::default()
    })?;
    let extra = Arc::new(RuleSet::from_yaml_str(
        EXTRA_CHECKS,
        &LoadOptions::default(),
    )?);
    let eval = plan.dataflow.ctx.eval.clone();
    let silver_f = out.join("silver_f");
    std::fs::create_dir_all(&silver_f)?;
    let flagged = Arc::new(AtomicU64::new(0));
    let counter = flagged.clone();

    // Our step, on every worker: Fahrenheit + the extra rule on each silver batch, written to
    // our own sink. It commits no table of ours, so it returns no reports.
    let summary = run_plan_with(plan, move |standard| {
        let (extra, eval, counter, dir) = (
            extra.clone(),
            eval.clone(),
            counter.clone(),
            medallion::storage::TableStore::local(silver_f.clone()),
        );
        standard.silver.clone().inspect(move |batch: &RecordBatch| {
            let batch = with_fahrenheit(batch);
            let result = extra.evaluate(&batch, &eval).expect("extra rule evaluates");
            counter.fetch_add(result.failed_count[0] as u64, Ordering::Relaxed);
            medallion::sink::parquet::write_file(&dir, &[batch]).expect("custom sink writes");
        });
        Vec::new()
    })?;
    print!("{}", summary.render());
    println!(
        "silver rows above 95 °F (our extra rule): {}",
        flagged.load(Ordering::Relaxed)
    );
    println!("Delta tables and silver_f/ written under {}", out.display());
    Ok(())
}
