//! TEMPORARY stub of the quality engine API (replaced by the quality branch when it merges).
#![allow(dead_code, unused_variables)]
use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QualityError {
    #[error("{0}")]
    Load(String),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criticality {
    Error,
    Warn,
}
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub strict: bool,
}
pub struct Rule;
impl Rule {
    pub fn name(&self) -> &str {
        todo!()
    }
    pub fn criticality(&self) -> Criticality {
        todo!()
    }
}
pub struct RuleSet;
impl RuleSet {
    pub fn from_yaml_str(text: &str, opts: &LoadOptions) -> Result<RuleSet, QualityError> {
        todo!()
    }
    pub fn from_path(path: &std::path::Path, opts: &LoadOptions) -> Result<RuleSet, QualityError> {
        todo!()
    }
    pub fn rules(&self) -> &[Rule] {
        todo!()
    }
    pub fn evaluate(
        &self,
        batch: &RecordBatch,
        ctx: &EvalContext,
    ) -> Result<Evaluation, QualityError> {
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub now: chrono::DateTime<chrono::Utc>,
    pub run_time: chrono::DateTime<chrono::Utc>,
    pub run_id: String,
}
pub struct Evaluation {
    pub fired: Vec<BooleanArray>,
    pub evaluated: Vec<Option<BooleanArray>>,
    pub evaluated_count: Vec<u64>,
    pub failed_count: Vec<u64>,
    pub has_error: BooleanArray,
    pub errors: ArrayRef,
    pub warnings: ArrayRef,
}
pub fn dqx_result_type() -> DataType {
    todo!()
}
pub fn single_error_column(messages: &[&str], ctx: &EvalContext) -> ArrayRef {
    todo!()
}
pub mod cli {
    #[derive(clap::Args)]
    pub struct CheckArgs {
        #[arg(long)]
        pub checks: std::path::PathBuf,
    }
    pub fn run_check_command(args: &CheckArgs) -> anyhow::Result<i32> {
        todo!()
    }
}
