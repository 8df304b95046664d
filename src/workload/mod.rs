//! TEMPORARY stub (replaced by the source branch).
#![allow(dead_code, unused_variables)]
#[derive(Debug, Clone, Default)]
pub struct WorkloadConfig {
    pub events: u64,
    pub stations: u32,
    pub seed: u64,
    pub now_ms: i64,
    pub interval_s: u32,
}
pub struct Meta {
    pub events: u64,
}
pub fn write_jsonl(cfg: &WorkloadConfig, path: &std::path::Path) -> anyhow::Result<Meta> {
    todo!()
}
