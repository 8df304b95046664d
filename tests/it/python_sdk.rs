//! Interoperability: Microsoft's Python SDK (`azure-eventhub`, which `.ci/run` installs) sends
//! to and receives from `medallion emulator` with `UseDevelopmentEmulator=true`: batches with a
//! partition key, single events to a partition, hub and partition properties, and every event back
//! with its sequence number, offset, enqueued time, key, properties and body
//! (`tests/it/python_interop.py` does the checking).

use std::process::Command;

#[test]
fn python_sdk_sends_to_and_receives_from_the_emulator() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python_interop.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_medallion"))
        .arg("emulator")
        .output()
        .expect("python3 runs");
    let text = crate::common::combined_output(&out);
    assert!(
        out.status.success(),
        "the Python SDK interop script failed (is `pip install azure-eventhub` done?):\n{text}"
    );
    assert!(text.contains("ALL CHECKS PASSED"), "{text}");
}
