//! What Census writes out is safe to open: a register export and a report
//! opened by a real spreadsheet engine evaluate no formula, and Slack text
//! cannot ping a channel or disguise a link.
//!
//! The spreadsheet test runs LibreOffice (Debian's `libreoffice-calc`,
//! headless); `.ci/run` installs it and sets `CENSUS_REQUIRE_LIBREOFFICE=1`,
//! so there a missing LibreOffice fails the test instead of skipping it.

mod common;

use std::process::Command;

use common::{ADMIN, Daemon};
use reqwest::Method;
use serde_json::json;

/// A formula that, if a spreadsheet ran it, would show the word PWNED.
const FORMULA: &str = "=CONCATENATE(\"PW\",\"NED\")";

fn soffice() -> Option<&'static str> {
    ["soffice", "libreoffice"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok())
}

/// Open `csv` in LibreOffice headless and return what it shows, as HTML.
fn opened(csv: &str) -> Option<String> {
    let Some(bin) = soffice() else {
        assert!(
            std::env::var_os("CENSUS_REQUIRE_LIBREOFFICE").is_none(),
            "LibreOffice is required here (apt-get install libreoffice-calc)"
        );
        eprintln!("skipped: no LibreOffice on this machine");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, csv).unwrap();
    let profile = format!("-env:UserInstallation=file://{}", dir.path().join("profile").display());
    let out = Command::new(bin)
        .args([profile.as_str(), "--headless", "--norestore", "--convert-to", "html", "--outdir"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(std::fs::read_to_string(dir.path().join("export.html")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_register_and_a_report_run_no_formula_in_a_spreadsheet() {
    let d = Daemon::start().await;
    for (tag, owner) in [("F-1", FORMULA), ("F-2", "+1+1"), ("F-3", "-2+3"), ("F-4", "@SUM(1,1)")] {
        let (s, v) = d
            .admin_json(
                Method::POST,
                "/api/v1/assets",
                Some(json!({"tag": tag, "name": format!("{owner} box"), "type": "server", "owner": owner,
                            "lifecycle": "deployed"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let export =
        d.req(Method::GET, "/api/v1/register/export?format=csv", Some(ADMIN), None).await.text().await.unwrap();
    assert!(export.contains(&format!("\"'{}\"", FORMULA.replace('"', "\"\""))), "{export}");
    assert!(
        export.contains(",'+1+1,") && export.contains(",'-2+3,") && export.contains(",\"'@SUM(1,1)\","),
        "{export}"
    );
    let report = d.req(Method::GET, "/api/v1/report?format=csv", Some(ADMIN), None).await.text().await.unwrap();
    // Re-importing the export changes nothing: the leading ' is taken off again.
    let (s, plan) =
        d.admin_json_body(Method::POST, "/api/v1/register/import?format=csv&dry_run=true", export.clone()).await;
    assert_eq!((s, plan["unchanged"].as_u64()), (200, Some(4)), "{plan}");
    for csv in [&export, &report] {
        let Some(html) = opened(csv) else { return };
        assert!(!html.contains("PWNED"), "a formula ran: {html}");
        assert!(html.contains("CONCATENATE"), "the formula is shown as text: {html}");
        for evaluated in [">2<", ">1<"] {
            assert!(!html.contains(evaluated), "{evaluated} looks evaluated: {html}");
        }
    }
    d.stop().await;
}

#[test]
fn slack_text_cannot_ping_a_channel_or_hide_a_link() {
    use censusd::alerts::notify::slack_escape;
    let hostile = "<!channel> <http://evil.example|your bank> & co";
    let escaped = slack_escape(hostile);
    assert_eq!(escaped, "&lt;!channel&gt; &lt;http://evil.example|your bank&gt; &amp; co");
    assert!(!escaped.contains('<') && !escaped.contains('>'));
    assert_eq!(slack_escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    // Regression: a right-to-left override (U+202E) went to Slack as sent: `evil<RLO>gnp.exe` read `evilexe.png`.
    assert_eq!(slack_escape("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
}
