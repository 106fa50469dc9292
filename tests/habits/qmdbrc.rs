//! End-to-end: `~/.qmdbrc` (or `$QMDB_RC`) in script mode on the real 6.1 guest: its
//! commands run before `-e`'s in the same session (a variable it sets is there after), a
//! failing line is reported as FILE:LINE without failing the script, `--json` keeps stdout
//! for the script's own records, and `QMDB_RC=` or `--no-rc` skip it.

use crate::support::{shared_guest_with, Guest, GuestOpts, KernelVersion};
use std::path::Path;
use std::process::Output;

const RC: &str = "// qmdb settings\ninit_task>mytask\n::nosuch\n\n<mytask=K\n";

/// Runs qmdb on `guest` with `HOME=home`, `QMDB_RC` as given (`None`: unset), and `args`.
fn run(guest: &Guest, home: &Path, rc: Option<&Path>, args: &[&str]) -> Output {
    let _attached = guest.attach_lock();
    let mut c = guest.qmdb();
    c.env("HOME", home).env_remove("QMDB_RC");
    if let Some(rc) = rc {
        c.env("QMDB_RC", rc);
    }
    c.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qmdb")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn qmdbrc_in_script_mode_on_6_1() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let home = tempfile::tempdir().unwrap();
    let rc = home.path().join("my.rc");
    std::fs::write(&rc, RC).unwrap();

    // $QMDB_RC: its output first, then the script's, which sees its variable.
    let o = run(
        guest,
        home.path(),
        Some(&rc),
        &["-e", "<mytask=K", "-e", "init_task=K"],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(
        o.status.success(),
        "an rc error does not fail the script:\n{out}{err}"
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines.iter().all(|l| *l == lines[2]),
        "init_task each time: {out}"
    );
    let located = format!("qmdb: {}:3: unknown dcmd 'nosuch'", rc.display());
    assert!(err.contains(&located), "{err}");

    // --json: stdout is the script's records only; the rc file's output goes to stderr.
    let o = run(
        guest,
        home.path(),
        Some(&rc),
        &["--json", "-e", "<mytask=K"],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["ok"], true, "{out}");
    assert!(err.contains(&located), "{err}");
    assert!(
        err.contains(lines[0]),
        "the rc's own output, on stderr: {err}"
    );

    // ~/.qmdbrc by default; `QMDB_RC=` (empty) and --no-rc skip it.
    std::fs::write(home.path().join(".qmdbrc"), RC).unwrap();
    let o = run(guest, home.path(), None, &["-e", "<mytask=K"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("{}:3: ", home.path().join(".qmdbrc").display())),
        "{}",
        text(&o.stderr)
    );
    for (rc, args) in [
        (Some(Path::new("")), &["-e", "<mytask=K"][..]),
        (None, &["--no-rc", "-e", "<mytask=K"][..]),
    ] {
        let o = run(guest, home.path(), rc, args);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "no rc: no variable");
        assert!(!err.contains("nosuch"), "{err}");
        assert!(err.contains("mytask"), "{err}");
    }

    // An unreadable rc file is reported and qmdb goes on.
    let missing = home.path().join("missing.rc");
    let o = run(guest, home.path(), Some(&missing), &["-e", "::status"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("{}: not read", missing.display())),
        "{}",
        text(&o.stderr)
    );
}
