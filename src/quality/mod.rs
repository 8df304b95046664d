//! Data-quality rules in the check format of Databricks Labs DQX, evaluated vectorised over Arrow.
//! (Being built: see the quality-engine issue.)

use thiserror::Error;

/// Errors of the quality engine.
#[derive(Debug, Error)]
pub enum QualityError {
    #[error("{0}")]
    Load(String),
}
