//! The README's "Five minutes with the CLI" block, run as it is written, so it cannot drift:
//! every line goes to bash in order (only the build line is skipped and the binary path points
//! at this build), in a fresh directory, and every `check` is held to the answer the README
//! prints under it (ACCEPT or REJECT, and the rule in brackets or in the JSON).

use std::process::Command;

/// The block: the first ```sh fence after the section's heading.
fn walkthrough() -> String {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Five minutes with the CLI")
        .nth(1)
        .expect("the README has its walk-through section");
    let start = section.find("```sh\n").expect("a sh block") + 6;
    let end = section[start..].find("```").expect("the block ends") + start;
    section[start..end].to_string()
}

/// What the README says a `check` answers: the outcome and, if given, the rule.
fn expected(comments: &[&str]) -> Option<(String, Option<String>)> {
    let text = comments.join(" ");
    let outcome = if text.contains("ACCEPT") || text.contains(r#""outcome":"accept""#) {
        "accept"
    } else if text.contains("REJECT") || text.contains(r#""outcome":"reject""#) {
        "reject"
    } else {
        return None;
    };
    let rule = text
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(r, _)| r.to_string())
        .or_else(|| {
            text.split_once(r#""rule":""#)
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(r, _)| r.to_string())
        });
    Some((outcome.into(), rule))
}

#[test]
fn the_readme_walkthrough_runs_as_written_and_answers_as_it_says() {
    let block = walkthrough();
    let lines: Vec<&str> = block.lines().collect();
    let bin = env!("CARGO_BIN_EXE_hybridauth");
    let mut script = String::from(
        "set -euo pipefail\n\
         expect_answer() { # OUTPUT OUTCOME RULE\n\
           local out=$1 outcome=$2 rule=$3\n\
           case \"$out\" in\n\
             \\{*) echo \"$out\" | python3 -c 'import json,sys; d=json.load(sys.stdin); o,r=sys.argv[1:3]; assert d[\"outcome\"]==o and (not r or d[\"rule\"]==r), (d, o, r)' \"$outcome\" \"$rule\" ;;\n\
             *) [ \"$(echo \"$out\" | head -c 6 | tr A-Z a-z)\" = \"$outcome\" ] || { echo \"expected $outcome: $out\" >&2; exit 1; }\n\
                [ -z \"$rule\" ] || echo \"$out\" | grep -qF \"[$rule]\" || { echo \"expected [$rule]: $out\" >&2; exit 1; } ;;\n\
           esac\n\
           echo \"ok $outcome ${rule:-}\"\n\
         }\n",
    );
    let mut checks = 0;
    for (i, line) in lines.iter().enumerate() {
        let code = line.split(" #").next().unwrap_or(line).trim_end();
        if code.starts_with("cargo build") {
            continue; // this test runs the binary cargo just built
        }
        let code = code.replace("./target/release/hybridauth", bin);
        if code.trim_start().starts_with("ha check") {
            let mut comments = vec![line.split_once(" #").map_or("", |(_, c)| c)];
            comments.extend(
                lines[i + 1..]
                    .iter()
                    .take_while(|l| l.trim_start().starts_with('#'))
                    .copied(),
            );
            let (outcome, rule) = expected(&comments)
                .unwrap_or_else(|| panic!("README line {line:?} says no outcome under it"));
            script.push_str(&format!(
                "out=$({code})\nexpect_answer \"$out\" {outcome} '{}'\n",
                rule.unwrap_or_default()
            ));
            checks += 1;
        } else {
            script.push_str(&code);
            script.push('\n');
        }
    }
    assert!(checks >= 5, "the walk-through checks decisions: {block}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("HYBRIDAUTH_STORE__PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README walk-through failed:\n{stdout}\n{}\n--- script ---\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("\nok ").count() + usize::from(stdout.starts_with("ok ")),
        checks,
        "{stdout}"
    );
    // It leaves alice enabled (the next sections sign her in).
    let v: serde_json::Value = serde_json::from_slice(
        &Command::new(bin)
            .args(["--json", "user", "show", "alice"])
            .current_dir(dir.path())
            .env("HYBRIDAUTH_CLOCK__MODE", "simulated")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["enabled"], true, "{v}");
}
