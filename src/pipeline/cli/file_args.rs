//! A pipeline file's `run:` settings as `medallion run` options: each `name: value` becomes
//! `--name value` (a `true` flag `--name`, a list `a,b`, a mapping of storage options
//! `--storage-option k=v` each), put before the options typed on the command line so that those
//! win (the run command takes an option's last value), and left out where its `MEDALLION_*`
//! variable is set or an option typed conflicts with it (the environment and the command line beat
//! the file). `${NAME}` in a value is the environment variable `NAME`; secrets (a connection
//! string, storage keys and tokens) are accepted only as such references.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Command;
use serde_yaml::Value;

use crate::pipeline::file::{PipelineFile, PipelineFileError, Problem};

/// Settings a file may not hold literally.
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "connection_string"
        || ["key", "secret", "token", "sas", "password", "credential"]
            .iter()
            .any(|s| n.contains(s))
}

/// The value with every `${NAME}` replaced by the environment's `NAME`.
fn expand(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(format!("'{text}': an unclosed ${{"));
        };
        let name = &rest[start + 2..start + end];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => return Err(format!("the environment variable {name} is not set")),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A scalar as option text (strings expanded; a secret only as a whole `${NAME}` reference).
fn scalar(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => {
            let reference = s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1;
            if is_secret(name) && !reference {
                return Err(format!(
                    "a secret is not written in a file: write {name}: ${{ENV_VARIABLE}} and set the variable"
                ));
            }
            expand(s)
        }
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a value, found {other:?}")),
    }
}

/// The options one setting makes, for the run command's argument `arg`.
fn options(name: &str, v: &Value, arg: &clap::Arg) -> Result<Vec<String>, String> {
    let long = format!("--{}", arg.get_long().unwrap_or(name));
    let takes_value = arg.get_num_args().is_none_or(|n| n.takes_values())
        && !matches!(
            arg.get_action(),
            clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
        );
    if !takes_value {
        return match v {
            Value::Bool(true) => Ok(vec![long]),
            Value::Bool(false) => Ok(Vec::new()),
            _ => Err("expected true or false".into()),
        };
    }
    let repeated = matches!(arg.get_action(), clap::ArgAction::Append);
    match v {
        Value::Mapping(m) if repeated => m
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().ok_or("keys are strings")?;
                Ok(vec![long.clone(), format!("{k}={}", scalar(k, v)?)])
            })
            .collect::<Result<Vec<_>, String>>()
            .map(|v| v.concat()),
        Value::Sequence(items) if repeated => items
            .iter()
            .map(|i| Ok(vec![long.clone(), scalar(name, i)?]))
            .collect::<Result<Vec<_>, String>>()
            .map(|v| v.concat()),
        Value::Sequence(items) => {
            let parts: Result<Vec<String>, String> =
                items.iter().map(|i| scalar(name, i)).collect();
            Ok(vec![long, parts?.join(",")])
        }
        v => Ok(vec![long, scalar(name, v)?]),
    }
}

/// The run command's options for each of `file`'s settings (`Err`: every setting that is not
/// one), left out where its `MEDALLION_*` variable is set or `typed` holds one it conflicts with.
pub fn setting_options(
    file: &PipelineFile,
    run: &Command,
    typed: &[OsString],
) -> Result<Vec<String>, Vec<Problem>> {
    let given = |arg: &clap::Arg| {
        typed.iter().any(|t| {
            let t = t.to_string_lossy();
            arg.get_long()
                .is_some_and(|l| t == format!("--{l}") || t.starts_with(&format!("--{l}=")))
                || arg.get_short().is_some_and(|s| t == format!("-{s}"))
        })
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (name, value, line) in &file.run {
        let problem = |message: String| Problem {
            key: format!("run.{name}"),
            line: *line,
            message,
        };
        let long = name.replace('_', "-");
        let Some(arg) = run
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "pipeline")
        else {
            problems.push(problem(format!(
                "unknown option '{name}' (the options of `medallion run --help`, with _ for -)"
            )));
            continue;
        };
        let env = format!("MEDALLION_{}", name.to_ascii_uppercase());
        let overridden = std::env::var_os(&env).is_some()
            || given(arg)
            || run.get_arg_conflicts_with(arg).into_iter().any(given);
        match options(name, value, arg) {
            Ok(_) if overridden => {}
            Ok(opts) => out.extend(opts),
            Err(e) => problems.push(problem(e)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The pipeline file a `run` command line names (`--pipeline`, else `MEDALLION_PIPELINE`).
fn pipeline_path(after_run: &[OsString]) -> Option<PathBuf> {
    let mut it = after_run.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--pipeline" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = s.strip_prefix("--pipeline=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("MEDALLION_PIPELINE").map(PathBuf::from)
}

/// `args` (a whole `medallion` command line) with the named pipeline file's settings put in
/// after `run`; unchanged when it is not a `run` with a pipeline file.
pub fn with_file_settings(
    args: Vec<OsString>,
    cli: &Command,
) -> Result<Vec<OsString>, PipelineFileError> {
    let Some(at) = args.iter().position(|a| a == "run") else {
        return Ok(args);
    };
    let Some(path) = pipeline_path(&args[at + 1..]) else {
        return Ok(args);
    };
    let file = validate(&path, cli)?;
    let run = cli
        .find_subcommand("run")
        .expect("the command line has a run command");
    let settings =
        setting_options(&file, run, &args[at + 1..]).map_err(|problems| PipelineFileError {
            origin: path.display().to_string(),
            problems,
        })?;
    let mut out = args[..=at].to_vec();
    out.extend(settings.into_iter().map(OsString::from));
    out.extend(args[at + 1..].iter().cloned());
    Ok(out)
}

/// Every problem of `file`'s `run:` settings: each is turned into its options and parsed by the
/// run command on its own (an unknown option, a literal secret, a value the option refuses).
fn setting_problems(file: &PipelineFile, run: &Command) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, value, line) in &file.run {
        let one = PipelineFile {
            run: vec![(name.clone(), value.clone(), *line)],
            ..file.clone()
        };
        match setting_options(&one, run, &[]) {
            Err(p) => problems.extend(p),
            Ok(opts) => {
                if let Err(e) = run.clone().no_binary_name(true).try_get_matches_from(opts) {
                    let text = e.to_string();
                    let first = text.lines().next().unwrap_or_default();
                    problems.push(Problem {
                        key: format!("run.{name}"),
                        line: *line,
                        message: first.trim_start_matches("error: ").to_string(),
                    });
                }
            }
        }
    }
    problems
}

/// Every problem of the pipeline file at `path`, its `run:` settings included (each value is
/// parsed as its option would be).
pub fn validate(path: &Path, cli: &Command) -> Result<PipelineFile, PipelineFileError> {
    let file = PipelineFile::load(path)?;
    let run = cli.find_subcommand("run").expect("a run command");
    let problems = setting_problems(&file, run);
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(PipelineFileError {
            origin: path.display().to_string(),
            problems,
        })
    }
}
