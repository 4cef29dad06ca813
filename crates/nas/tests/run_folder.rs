//! The run folder's lock: a second run pointed at the folder is refused while the first
//! lives.
//!
//! (Alone in its test binary: a test that spawns processes would hold copies of the lock's
//! descriptor for an instant after each fork, and the lock with them.)

use nas::{NasError, RunDir};

#[test]
fn a_second_run_in_the_same_folder_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run");
    let first = RunDir::create(&path).expect("first run");
    first
        .write_json("config.json", &serde_json::json!({}))
        .expect("config");
    let err = RunDir::create(&path).expect_err("second run refused");
    assert!(matches!(err, NasError::Busy { .. }), "{err:?}");
    let message = err.to_string();
    let pid = format!("process {}", std::process::id());
    assert!(message.contains(&pid), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("choose another output folder"),
        "{message}"
    );
    // Resuming it is refused too, and so is a clone's lock released only with the last clone.
    let clone = first.clone();
    drop(first);
    let err = RunDir::open(&path).expect_err("resume refused");
    assert!(matches!(err, NasError::Busy { .. }), "{err:?}");
    drop(clone);
    let resumed = RunDir::open(&path).expect("free once the first run has gone");
    drop(resumed);
    let err = RunDir::create(&path).expect_err("a finished run is not overwritten");
    assert!(matches!(err, NasError::OutputExists { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} already holds a run (config.json exists); choose another output folder",
            path.display()
        )
    );
}
