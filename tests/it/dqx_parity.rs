//! The quality engine against Databricks Labs DQX itself (issue 30): `scripts/dqx_diff.py` runs
//! random rows and random check files (seeded) through DQX 0.17 on a local PySpark session and
//! through `medallion check --input` with the same "now", and compares every row's `_errors`
//! and `_warnings` entries (name, message, columns, function, filter). The reduced version: 5
//! seeds of 100 rows and 30 checks; `python3 scripts/dqx_diff.py --seeds 0-19 --rows 200
//! --checks 40` is the long one. README's test command installs DQX, PySpark and pandas.

use std::process::Command;

use crate::common::combined_output;

#[test]
fn dqx_and_medallion_agree_on_every_cell() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{root}/scripts/dqx_diff.py"))
        .args([
            "--seeds", "0-4", "--rows", "100", "--checks", "30", "--show", "20",
        ])
        .args(["--bin", env!("CARGO_BIN_EXE_medallion")])
        .output()
        .expect("python3 runs");
    let text = combined_output(&out);
    assert!(
        out.status.success(),
        "DQX and medallion differ (or DQX is not installed: README's test command installs \
         databricks-labs-dqx==0.17.0, pyspark and pandas):\n{text}"
    );
    let summary = text
        .lines()
        .find(|l| l.starts_with("all seeds:"))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    assert!(summary.contains("(100.0%)"), "{summary}");
    assert!(summary.contains("1000 of 1000"), "{summary}");
}
