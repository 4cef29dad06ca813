//! Checkpoints survive a `kill -9` in the middle of being written.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nas::RunDir;
use nas::checkpoint::Bundle;

const WRITER: &str = "BIONAS_TEST_CHECKPOINT_WRITER";

/// The checkpoint a writer saves at step `i`: 1 MiB whose bytes follow from `i`.
fn bundle(i: u64) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.put("step", i.to_le_bytes().to_vec());
    let body = (0..1 << 20)
        .map(|k| (k as u64 ^ i).wrapping_mul(31) as u8)
        .collect();
    bundle.put("model", body);
    bundle
}

/// In the child process: writes checkpoints until killed.
fn write_forever(dir: &Path) -> ! {
    let run = RunDir::open(dir).expect("the child opens the run");
    let start: u64 = std::env::var("BIONAS_TEST_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for i in start.. {
        bundle(i).save(&run, "checkpoint.bin").expect("save");
    }
    unreachable!()
}

/// Kills a process that writes checkpoints in a loop, at twenty different moments; every
/// time, `checkpoint.bin` is either absent (before the first rename) or a whole checkpoint.
#[test]
fn a_kill_during_a_checkpoint_write_leaves_a_loadable_checkpoint() {
    if let Ok(dir) = std::env::var(WRITER) {
        write_forever(Path::new(&dir));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path()).expect("run");
    run.write_json("config.json", &serde_json::json!({}))
        .expect("config");
    drop(run);
    let checkpoint = dir.path().join("checkpoint.bin");
    let mut loaded = 0;
    for round in 0..20u64 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "a_kill_during_a_checkpoint_write_leaves_a_loadable_checkpoint",
                "--exact",
                "--nocapture",
            ])
            .env(WRITER, dir.path())
            .env("BIONAS_TEST_START", (round * 1000).to_string())
            .spawn()
            .expect("spawn the writer");
        std::thread::sleep(Duration::from_millis(30 + 37 * (round % 7)));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        if !checkpoint.exists() {
            continue;
        }
        let bundle = Bundle::load(&checkpoint).expect("a whole checkpoint");
        let step = bundle.get("step").expect("step section");
        let step = u64::from_le_bytes(step.try_into().expect("8 bytes"));
        assert_eq!(bundle, self::bundle(step), "round {round}");
        loaded += 1;
    }
    assert!(
        loaded >= 10,
        "only {loaded} rounds got as far as one checkpoint"
    );
}
