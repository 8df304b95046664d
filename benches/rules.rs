//! The 14 rules of the workload's checks.yml over 1M parsed rows, in batches of 8192.
//! Throughput is reported in rule evaluations (rows × rules) per second.
//!
//! Run: `cargo bench --bench rules -- --warm-up-time 1 --measurement-time 5`

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medallion::quality::{EvalContext, LoadOptions, RuleSet};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

const CONDITIONS: [&str; 6] = ["clear", "cloudy", "rain", "snow", "fog", "storm"];

/// Realistic parsed weather rows with the workload's fault mix (~6% of rows carry a fault).
fn synth_batch(rng: &mut Rng, n: usize, first: usize) -> RecordBatch {
    let mut event_id = StringBuilder::with_capacity(n, n * 36);
    let mut station = StringBuilder::with_capacity(n, n * 8);
    let mut time = StringBuilder::with_capacity(n, n * 24);
    let mut temp = Float64Builder::with_capacity(n);
    let mut hum = Float64Builder::with_capacity(n);
    let mut pres = Float64Builder::with_capacity(n);
    let mut wind = Float64Builder::with_capacity(n);
    let mut dir = Int64Builder::with_capacity(n);
    let mut precip = Float64Builder::with_capacity(n);
    let mut cond = StringBuilder::with_capacity(n, n * 6);
    let mut lat = Float64Builder::with_capacity(n);
    let mut lon = Float64Builder::with_capacity(n);
    let mut batt = Float64Builder::with_capacity(n);
    for i in 0..n {
        let k = first + i;
        let r = rng.next();
        event_id.append_value(format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            r as u32,
            (r >> 32) as u16,
            (r >> 48) & 0xfff,
            k & 0xfff,
            k
        ));
        match rng.unit() {
            x if x < 0.003 => station.append_null(),
            x if x < 0.006 => station.append_value("ws42"),
            _ => station.append_value(format!("WS-{:05}", rng.next() % 10_000)),
        }
        let secs = 1_795_690_000 + (k as i64 % 4_000);
        match rng.unit() {
            x if x < 0.003 => time.append_value("2026-13-45T99:00:00Z"),
            x if x < 0.006 => time.append_value("2026-11-27T10:00:00.000Z"),
            _ => {
                let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
                time.append_value(format!(
                    "2026-11-26T{h:02}:{m:02}:{s:02}.{:03}Z",
                    rng.next() % 1000
                ))
            }
        }
        if rng.chance(0.01) {
            temp.append_null()
        } else if rng.chance(0.005) {
            temp.append_value(999.9)
        } else {
            temp.append_value((rng.range(-30.0, 40.0) * 10.0).round() / 10.0)
        }
        hum.append_value(if rng.chance(0.005) {
            104.0
        } else {
            rng.range(5.0, 100.0)
        });
        pres.append_value(if rng.chance(0.003) {
            0.0
        } else {
            rng.range(950.0, 1050.0)
        });
        wind.append_value(if rng.chance(0.003) {
            -1.0
        } else {
            rng.range(0.0, 20.0)
        });
        dir.append_value((rng.next() % 360) as i64);
        precip.append_value(if rng.chance(0.003) {
            -0.5
        } else {
            rng.range(0.0, 5.0)
        });
        if rng.chance(0.005) {
            cond.append_value("sunny")
        } else {
            cond.append_value(CONDITIONS[(rng.next() % 6) as usize])
        }
        lat.append_value(rng.range(-90.0, 90.0));
        lon.append_value(rng.range(-180.0, 180.0));
        batt.append_value(rng.range(3.3, 4.2));
    }
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    let schema = Schema::new(vec![
        f("event_id", DataType::Utf8),
        f("station_id", DataType::Utf8),
        f("event_time", DataType::Utf8),
        f("temperature_c", DataType::Float64),
        f("humidity_pct", DataType::Float64),
        f("pressure_hpa", DataType::Float64),
        f("wind_speed_ms", DataType::Float64),
        f("wind_dir_deg", DataType::Int64),
        f("precip_mm", DataType::Float64),
        f("condition", DataType::Utf8),
        f("lat", DataType::Float64),
        f("lon", DataType::Float64),
        f("battery_v", DataType::Float64),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(station.finish()),
        Arc::new(time.finish()),
        Arc::new(temp.finish()),
        Arc::new(hum.finish()),
        Arc::new(pres.finish()),
        Arc::new(wind.finish()),
        Arc::new(dir.finish()),
        Arc::new(precip.finish()),
        Arc::new(cond.finish()),
        Arc::new(lat.finish()),
        Arc::new(lon.finish()),
        Arc::new(batt.finish()),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("valid batch")
}

fn bench_rules(c: &mut Criterion) {
    let checks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/workload/checks.yml");
    let rules = RuleSet::from_path(&checks, &LoadOptions::default()).expect("checks.yml loads");
    let n_rules = rules.rules().len() as u64;
    let mut rng = Rng(42);
    let batches: Vec<RecordBatch> = (0..ROWS)
        .step_by(BATCH)
        .map(|start| synth_batch(&mut rng, BATCH.min(ROWS - start), start))
        .collect();
    let ctx = EvalContext::fixed("2026-11-26T12:00:00Z".parse().expect("time"));

    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64 * n_rules));
    g.bench_function("checks_yml_1M_rows", |b| {
        b.iter(|| {
            let mut failed = 0u64;
            for batch in &batches {
                let ev = rules.evaluate(batch, &ctx).expect("evaluates");
                failed += ev.failed_count.iter().sum::<u64>();
            }
            failed
        })
    });
    g.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
