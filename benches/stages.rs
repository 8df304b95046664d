//! Criterion benchmarks of the pipeline's hot stages: JSON → Arrow parse, the whole per-batch
//! processing stage (parse + rules + routing), Parquet encode, a Delta commit, and the
//! differential quality aggregate.
//!
//!     cargo bench --bench stages

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use differential_dataflow::input::Input;
use differential_dataflow::operators::count::CountTotal;
use medallion::dataflow::per_batch::{bronze_batch, process_batch, ProcessContext, SkipBelow};
use medallion::parse::parse_bodies;
use medallion::pipeline::load_rules;
use medallion::quality::EvalContext;
use medallion::sink::parquet::write_file;
use medallion::sink::{Catalog, DeltaTables, TableKind};
use medallion::source::{PartitionId, RawBatch};
use medallion::storage::TableStore;
use medallion::workload::{Generator, WorkloadConfig};

const BATCH: usize = 8192;

fn raw_batch() -> RawBatch {
    let mut gen = Generator::new(WorkloadConfig {
        events: BATCH as u64,
        stations: 1000,
        now_ms: 1_795_694_400_000,
        ..Default::default()
    });
    let mut raw = RawBatch::new(PartitionId(0));
    let mut body = Vec::new();
    let mut seq = 0;
    while let Some(ev) = gen.next_event(&mut body) {
        raw.push(seq, seq, ev.send_time_ms, ev.station.as_deref(), &body);
        body.clear();
        seq += 1;
    }
    raw
}

fn stages(c: &mut Criterion) {
    let raw = raw_batch();
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(raw.len() as u64));

    g.bench_function("parse_json_to_arrow", |b| {
        b.iter(|| parse_bodies((0..raw.len()).map(|i| raw.body(i))))
    });

    let now = "2026-11-26T12:00:00Z".parse().unwrap();
    let ctx = ProcessContext::new(
        Arc::new(load_rules(None).unwrap()),
        EvalContext {
            now,
            run_time: now,
            run_id: "bench".into(),
        },
        60_000,
        medallion::event::EventSchema::weather(),
    );
    g.bench_function("process_batch", |b| {
        b.iter_batched(
            || raw.clone(),
            |r| process_batch(r, &ctx, SkipBelow::NONE, 0).unwrap(),
            BatchSize::LargeInput,
        )
    });

    let bronze = bronze_batch(raw.clone(), 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    g.bench_function("parquet_encode_bronze", |b| {
        let table = TableStore::local(dir.path().to_path_buf());
        b.iter(|| write_file(&table, std::slice::from_ref(&bronze)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("delta");
    g.sample_size(20);
    g.bench_function("commit_one_file_with_txn", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut tables = DeltaTables::open(dir.path(), &Catalog::new(), &[0], true).unwrap();
        let root = TableStore::local(dir.path().join("bronze"));
        let mut epoch = 0u64;
        b.iter_batched(
            || {
                epoch += 1;
                (
                    write_file(&root, std::slice::from_ref(&bronze))
                        .unwrap()
                        .unwrap(),
                    epoch,
                )
            },
            |(add, epoch)| {
                let positions = BTreeMap::from([(0u32, epoch as i64)]);
                tables
                    .commit(TableKind::Bronze, epoch, vec![add], vec![], &positions)
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("differential");
    let epochs = 200u64;
    g.throughput(Throughput::Elements(epochs * 15 * 2));
    g.bench_function("quality_count_total_200_epochs", |b| {
        b.iter(|| {
            timely::execute_directly(move |worker| {
                let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                    let (input, updates) = scope.new_collection::<(u32, Option<i64>, u8), isize>();
                    let (probe, _) = updates.count_total().probe();
                    (input, probe)
                });
                for e in 0..epochs {
                    for rule in 0..15u32 {
                        input.update((rule, Some((e as i64 / 4) * 60_000), 0), 8192);
                        input.update((rule, Some((e as i64 / 4) * 60_000), 1), 40);
                    }
                    input.advance_to(e + 1);
                    input.flush();
                    worker.step_while(|| probe.less_than(input.time()));
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
