//! The people directory synced from a real OpenLDAP server: Debian's
//! `slapd`, started here with its own configuration and database in a
//! temporary directory, reached over its Unix socket (`ldapi://`), never a
//! network port. People are added, changed, disabled and deleted between
//! syncs through `ldapmodify`; the sync goes through the daemon's API.
//!
//! Skipped (with a note) when `slapd` is not installed, unless
//! `CENSUS_REQUIRE_SLAPD=1` (CI installs it and sets that).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;
use reqwest::Method;

const SUFFIX: &str = "dc=lab,dc=example";
const ROOT_DN: &str = "cn=admin,dc=lab,dc=example";
const ROOT_PW: &str = "lab-root-secret";
const READER_DN: &str = "cn=census,dc=lab,dc=example";
const READER_PW: &str = "census-reader-secret";

/// A private slapd; killed (and its directory removed) when dropped, even when the test fails.
struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
}

fn slapd_binary() -> Option<PathBuf> {
    ["/usr/sbin/slapd", "/usr/local/sbin/slapd"].iter().map(PathBuf::from).find(|p| p.exists())
}

impl Slapd {
    /// A private slapd loaded with [`base`]; `None` (the test skipped, said
    /// why) when slapd is not installed, unless `CENSUS_REQUIRE_SLAPD` is set.
    fn start_or_skip() -> Option<Slapd> {
        let Some(bin) = slapd_binary() else {
            assert!(
                std::env::var("CENSUS_REQUIRE_SLAPD").is_err(),
                "CENSUS_REQUIRE_SLAPD=1 but slapd is not installed"
            );
            eprintln!("skipped: slapd is not installed (Debian slapd, ldap-utils)");
            return None;
        };
        let slapd = Slapd::start(&bin);
        slapd.modify(&base());
        Some(slapd)
    }

    fn url(&self) -> String {
        let sock = self.dir.path().join("ldapi");
        format!(
            "ldapi://{}",
            percent_encoding::utf8_percent_encode(sock.to_str().unwrap(), percent_encoding::NON_ALPHANUMERIC)
        )
    }

    fn start(bin: &Path) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             pidfile {d}/slapd.pid\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {d}/db\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by dn.exact=\"{READER_DN}\" read by * none\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let mut s = Slapd { child: Command::new("true").spawn().unwrap(), dir };
        let url = s.url();
        // `-d 0`: stay in the foreground as this test's child (killed on drop).
        s.child = Command::new(bin)
            .args(["-d", "0", "-f"])
            .arg(s.dir.path().join("slapd.conf"))
            .args(["-h", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting slapd");
        let deadline = Instant::now() + Duration::from_secs(15);
        // The socket file appears at bind(); connections succeed once slapd listens.
        while std::os::unix::net::UnixStream::connect(s.dir.path().join("ldapi")).is_err() {
            if let Ok(Some(status)) = s.child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                let _ = s.child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("slapd exited with {status}: {err}");
            }
            assert!(Instant::now() < deadline, "slapd did not take connections on its socket within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// Apply an LDIF change as the root DN (`ldapmodify -a`: records without a changetype are adds).
    fn modify(&self, ldif: &str) {
        let mut child = Command::new("ldapmodify")
            .args(["-a", "-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ldapmodify (Debian ldap-utils)");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn person(uid: &str, cn: &str, ou: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: shadowAccount\nuid: {uid}\ncn: {cn}\n\
         sn: {cn}\nmail: {uid}@lab.example\nou: {ou}\n{extra}\n"
    )
}

fn base() -> String {
    format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: lab\no: Lab\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: census\nuserPassword: {READER_PW}\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n{}\n{}\n{}",
        person("ada", "Ada Byron", "ops", ""),
        person("bob", "Bob Stone", "ops", &format!("manager: uid=ada,ou=people,{SUFFIX}")),
        person("cy", "Cy Young", "ops", ""),
    )
}

fn config(
    file: &Path,
    url: &str,
    password_file: &Path,
    base_dn: &str,
    filter: &str,
) -> censusd::directory::ldap::LdapConfig {
    let text = format!(
        "url = \"{url}\"\nbind_dn = \"{READER_DN}\"\npassword_file = \"{}\"\nbase_dn = \"{base_dn}\"\n\
         filter = \"{filter}\"\ndisabled_filter = \"(employeeType=disabled)\"\n\
         [attributes]\nleft_on = \"shadowExpire\"\n",
        password_file.display()
    );
    let raw = census_proto::config::parse_toml(file, &text).unwrap();
    censusd::directory::ldap::validate(file, raw).unwrap()
}

async fn sync(d: &Daemon, dry_run: bool) -> (u16, serde_json::Value) {
    d.admin_json(Method::POST, &format!("/api/v1/people/sync/ldap?dry_run={dry_run}"), None).await
}

async fn people(d: &Daemon) -> Vec<serde_json::Value> {
    let (status, v) = d.admin_json(Method::GET, "/api/v1/people", None).await;
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

fn by_id<'a>(all: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    all.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{id} not in {all:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_added_changed_disabled_and_deleted_in_openldap_reach_the_directory_and_the_alerts() {
    let Some(slapd) = Slapd::start_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("ldap-password");
    std::fs::write(&pw, format!("{READER_PW}\n")).unwrap();
    let conf_file = dir.path().join("daemon.toml");
    let people_base = format!("ou=people,{SUFFIX}");
    let cfg = config(&conf_file, &slapd.url(), &pw, &people_base, "(objectClass=inetOrgPerson)");
    let d = Daemon::start_ldap(Some(cfg.clone())).await;

    // First sync: everyone added, the manager's DN turned into their id.
    let (status, plan) = sync(&d, false).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["added"], serde_json::json!(["ada", "bob", "cy"]));
    let all = people(&d).await;
    assert_eq!(by_id(&all, "bob")["manager"], "ada");
    assert_eq!(by_id(&all, "ada")["email"], "ada@lab.example");
    assert!(all.iter().all(|p| p["status"] == "active" && p["source"] == "ldap"), "{all:#?}");

    // An asset owned by Bob, deployed.
    let asset = serde_json::json!({
        "tag": "LT-7", "name": "bob's laptop", "type": "endpoint", "owner": "bob", "lifecycle": "deployed",
        "lifecycle_since": "2025-01-01", "macs": ["00:1b:21:00:20:07"]
    });
    let (status, v) = d.admin_json(Method::POST, "/api/v1/assets", Some(asset)).await;
    assert_eq!(status, 201, "{v}");

    // Between syncs: Dan joins, Cy moves to dev, Bob is disabled (with his
    // shadowExpire date), Ada's entry is deleted.
    slapd.modify(&format!(
        "{}\n\
         dn: uid=cy,ou=people,{SUFFIX}\nchangetype: modify\nreplace: ou\nou: dev\n\n\
         dn: uid=bob,ou=people,{SUFFIX}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n-\nadd: shadowExpire\nshadowExpire: 20783\n\n\
         dn: uid=ada,ou=people,{SUFFIX}\nchangetype: delete\n",
        person("dan", "Dan Ware", "dev", "")
    ));
    // A dry run says so and changes nothing.
    let (status, dry) = sync(&d, true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["added"], serde_json::json!(["dan"]));
    let mut departed: Vec<&str> = dry["departed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    departed.sort();
    assert_eq!(departed, ["ada", "bob"]);
    let changed_cy = dry["changed"].as_array().unwrap().iter().find(|c| c["id"] == "cy").expect("cy changed");
    assert_eq!(changed_cy["changes"][0]["field"], "team");
    assert_eq!(changed_cy["changes"][0]["after"], "dev");
    assert_eq!(people(&d).await.len(), 3, "a dry run writes nothing");

    let (status, applied) = sync(&d, false).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["added"], dry["added"]);
    let all = people(&d).await;
    assert_eq!(all.len(), 4, "nobody is deleted: {all:#?}");
    assert_eq!(
        (by_id(&all, "bob")["status"].as_str(), by_id(&all, "bob")["left_on"].as_str()),
        (Some("left"), Some("2026-11-26"))
    );
    assert_eq!(by_id(&all, "ada")["status"], "left", "deleted from LDAP: marked left");
    assert!(by_id(&all, "ada")["left_on"].is_string(), "on the sync's day");
    assert_eq!(by_id(&all, "cy")["team"], "dev");
    assert_eq!(by_id(&all, "dan")["status"], "active");

    // Bob's laptop: owner-departed with his leave date.
    let mut alert = serde_json::Value::Null;
    for _ in 0..200 {
        let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts?kind=owner-departed", None).await;
        if let Some(a) = alerts.as_array().and_then(|a| a.first()) {
            alert = a.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alert["subject"], "asset:LT-7", "{alert}");
    assert_eq!(alert["evidence"]["left_on"], "2026-11-26");
    assert_eq!(alert["evidence"]["person"]["id"], "bob");

    // The audit log has each change and the sync.
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?action=directory.sync", None).await;
    let subjects: Vec<&str> =
        audit["records"].as_array().unwrap().iter().filter_map(|r| r["subject"].as_str()).collect();
    assert!(subjects.contains(&"person:bob") && subjects.contains(&"directory"), "{subjects:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_cannot_see_everyone_changes_nothing() {
    let Some(slapd) = Slapd::start_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("ldap-password");
    std::fs::write(&pw, READER_PW).unwrap();
    let f = dir.path().join("daemon.toml");
    let people_base = format!("ou=people,{SUFFIX}");
    let good = config(&f, &slapd.url(), &pw, &people_base, "(objectClass=inetOrgPerson)");

    // No LDAP configured: said so.
    let d = Daemon::start_ldap(None).await;
    let (status, v) = sync(&d, false).await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("[people.ldap]"), "{v}");
    d.stop().await;

    let store: std::sync::Arc<dyn censusd::store::Store> = censusd::store::testing::fresh(dir.path()).unwrap();
    let rec = std::sync::Arc::new(censusd::reconcile::Reconciler::new(
        store.clone(),
        &censusd::config::ReconcileConfig::default(),
        vec![],
        std::sync::Arc::new(tokio::sync::Notify::new()),
    ));
    let admin = censusd::people::Principal::builtin_admin;
    let plan = censusd::app::directory::sync_from(rec.clone(), &good, (false, false), admin()).await.unwrap();
    assert_eq!(plan.added.len(), 3);

    // Each broken sync: refused with the step named, and nobody marked left.
    let wrong_pw = dir.path().join("wrong");
    std::fs::write(&wrong_pw, "not-the-password").unwrap();
    let cases = [
        (config(&f, &slapd.url(), &wrong_pw, &people_base, "(objectClass=inetOrgPerson)"), "LDAP bind failed"),
        (
            config(&f, &slapd.url(), &pw, &format!("ou=nowhere,{SUFFIX}"), "(objectClass=inetOrgPerson)"),
            "LDAP search failed",
        ),
        (config(&f, &slapd.url(), &pw, &people_base, "(objectClass=printer)"), "found nobody"),
        (
            config(&f, &slapd.url(), &dir.path().join("missing"), &people_base, "(objectClass=inetOrgPerson)"),
            "password file",
        ),
        (
            config(&f, "ldapi://%2Fnonexistent%2Fsocket", &pw, &people_base, "(objectClass=inetOrgPerson)"),
            "LDAP connect failed",
        ),
    ];
    for (cfg, words) in cases {
        let e = censusd::app::directory::sync_from(rec.clone(), &cfg, (false, false), admin())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{words}: {e}");
        let all = store.directory().unwrap();
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.status == censusd::directory::PersonStatus::Active), "{words}: {all:#?}");
    }
    // The good one still syncs.
    let again = censusd::app::directory::sync_from(rec, &good, (false, false), admin()).await.unwrap();
    assert_eq!(again.unchanged, 3);
}
