//! The stages as extension traits on timely streams, one operator (or a short chain) per file
//! with the state it owns. Composing them is the pipeline's job (`crate::pipeline`), or a
//! library user's.

mod commit;
mod dedup;
mod positions;
mod process;
mod quality_counts;
mod silver_rows;
mod table_rows;
mod watermarks;
mod write_table;

pub use commit::{Commit, CommitStats, Failure, MadeOf};
pub use dedup::anchors::{Anchor, DedupAnchors, EpochStamps, RecordedAnchors};
pub use dedup::{DedupWinners, RestoredDedup, RestoredKey};
pub use positions::ReadPositions;
pub use process::Process;
pub use quality_counts::{QualityCounts, QualityState};
pub use silver_rows::SilverRows;
pub use table_rows::{RowsOf, TableRows};
pub use watermarks::{newest_event_times, Watermarks};
pub use write_table::WriteTable;
