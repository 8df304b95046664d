//! The `medallion optimize` and `medallion vacuum` commands, and the `--out` /
//! `--storage-option` arguments every command that reads or writes tables shares.

use clap::Args;

use super::{
    compact_tables, parse_duration, parse_size, vacuum_table, CompactOptions, MaintenanceError,
    VacuumOptions,
};
use crate::storage::{parse_option, Output};

/// Where the tables are: `--out` and its storage options.
#[derive(Args, Debug, Clone)]
pub struct OutArgs {
    /// Where the tables are: a local directory, or az://container/path,
    /// abfss://filesystem@account.dfs.core.windows.net/path, s3://bucket/path. Credentials come
    /// from the AZURE_STORAGE_* / AWS_* environment variables, or --storage-option.
    #[arg(long, default_value = "medallion-data")]
    pub out: String,
    /// A storage option KEY=VALUE as object_store and delta-rs name them (repeatable), e.g.
    /// azure_storage_use_emulator=true, aws_endpoint=http://127.0.0.1:9000, allow_http=true.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub storage_options: Vec<(String, String)>,
}

impl OutArgs {
    /// The output location.
    pub fn output(&self) -> Result<Output, MaintenanceError> {
        Ok(Output::parse(&self.out)?.with_options(self.storage_options.clone()))
    }
}

/// `medallion optimize`: merge small files into large ones.
#[derive(Args, Debug)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub out: OutArgs,
    /// Only this table (repeatable; default: every append-only table at --out).
    #[arg(long)]
    pub table: Vec<String>,
    /// Size of the merged files; files of half of it or more are left as they are.
    #[arg(long, default_value = "128MB", value_parser = parse_size)]
    pub target_size: u64,
    /// Only merge files written at least this long ago (the closed time range).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub min_age: std::time::Duration,
}

/// `medallion vacuum`: delete files removed from the tables' logs longer ago than a retention,
/// then the log entries older than it.
#[derive(Args, Debug)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub out: OutArgs,
    /// Only this table (repeatable; default: every table at --out).
    #[arg(long)]
    pub table: Vec<String>,
    /// Delete files removed at least this long ago, and log entries older than this (versions
    /// older than this can no longer be read); at least 1h unless --force.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub retention: std::time::Duration,
    /// List the files that would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept a retention under one hour.
    #[arg(long)]
    pub force: bool,
    /// Delete log entries older than this instead (at most --retention): a table committed
    /// every epoch keeps a log file per commit, and every commit lists them.
    #[arg(long, value_parser = parse_duration)]
    pub log_retention: Option<std::time::Duration>,
}

fn tables_of(out: &Output, named: &[String]) -> Result<Vec<String>, MaintenanceError> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    let names = out.table_names()?;
    if names.is_empty() {
        return Err(MaintenanceError::NoTables(out.to_string()));
    }
    Ok(names)
}

/// Runs `medallion optimize`, printing one line per table.
pub fn optimize(args: &OptimizeArgs) -> Result<(), MaintenanceError> {
    let out = args.out.output()?;
    let opts = CompactOptions {
        target_size: args.target_size,
        min_age: args.min_age,
    };
    let tables = tables_of(&out, &args.table)?;
    crate::outln!(
        "{:<24} {:>12} {:>12} {:>8} {:>14}",
        "table",
        "files before",
        "files after",
        "commits",
        "MB rewritten"
    );
    for r in compact_tables(&out, &tables, &opts)? {
        match &r.skipped {
            Some(why) => crate::outln!("{:<24} {:>12} skipped: {why}", r.table, r.files_before),
            None => {
                let left = r.left_reasons(&opts);
                crate::outln!(
                    "{:<24} {:>12} {:>12} {:>8} {:>14.1}{}",
                    r.table,
                    r.files_before,
                    r.files_after,
                    r.commits,
                    r.bytes_rewritten as f64 / 1e6,
                    if left.is_empty() {
                        String::new()
                    } else {
                        format!("  left: {left}")
                    }
                )
            }
        }
    }
    Ok(())
}

/// Runs `medallion vacuum`, printing one line per table (and the files, in a dry run).
pub fn vacuum(args: &VacuumArgs) -> Result<(), MaintenanceError> {
    let out = args.out.output()?;
    let opts = VacuumOptions {
        retention: args.retention,
        dry_run: args.dry_run,
        force: args.force,
        log_retention: args.log_retention,
    };
    let tables = tables_of(&out, &args.table)?;
    for name in tables {
        let r = vacuum_table(&out, &name, &opts)?;
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        crate::outln!("{:<24} {verb} {} files", r.table, r.files.len());
        if r.log_entries > 0 {
            crate::outln!(
                "{:<24} deleted {} log entries older than the retention",
                "",
                r.log_entries
            );
        }
        if r.dry_run {
            for f in &r.files {
                crate::outln!("  {f}");
            }
        }
    }
    Ok(())
}
