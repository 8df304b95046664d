//! The command line as a user meets it: `-h` prints help on every command, and a printing
//! command whose reader has gone (`medallion inspect | head -1`) exits 0 quietly.

use std::process::{Command, Stdio};

use crate::common::*;

fn medallion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medallion"))
}

#[test]
fn dash_h_prints_help_on_every_command() {
    for command in [
        vec!["-h"],
        vec!["run", "-h"],
        vec!["emulator", "-h"],
        vec!["produce", "-h"],
        vec!["check", "-h"],
        vec!["inspect", "-h"],
        vec!["optimize", "-h"],
        vec!["vacuum", "-h"],
        vec!["generate", "-h"],
    ] {
        let out = medallion().args(&command).output().unwrap();
        let text = combined_output(&out);
        assert!(out.status.success(), "medallion {command:?}: {text}");
        assert!(text.contains("Usage:"), "medallion {command:?}: {text}");
    }
    let out = medallion().args(["run", "--help"]).output().unwrap();
    let text = combined_output(&out);
    assert!(
        text.contains("--hostfile") && text.contains("--shutdown-timeout"),
        "{text}"
    );
}

#[test]
fn inspect_into_a_closed_pipe_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = medallion()
        .args([
            "run",
            "--workers",
            "1",
            "--plain-progress",
            "--now",
            "2026-11-26T12:00:00Z",
        ])
        .arg("--source")
        .arg(format!("file:{}", smoke_file().display()))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", combined_output(&run));
    // The reader closes before the first line is written: every write meets a closed pipe.
    let mut inspect = medallion()
        .arg("inspect")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(inspect.stdout.take());
    let status = inspect.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut inspect.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
