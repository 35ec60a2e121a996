//! TLS options in connection URLs (pure), and TLS to a real server.
//!
//! The live tests run when `CENSUS_TEST_POSTGRES_TLS` names a server over
//! TCP that takes only TLS from 127.0.0.1 (`.ci/postgres-tests` starts its
//! throwaway cluster so: `hostnossl … reject`, and `cert` authentication for
//! the role `census_cert`), with `CENSUS_TEST_POSTGRES_TLS_DIR` holding
//! `ca.pem` (the CA of its certificate, which names `localhost` only),
//! `other-ca.pem` (a CA that signed nothing it serves) and `client.pem` /
//! `client.key` (signed by `ca.pem`, for `census_cert`).

use std::path::{Path, PathBuf};

use super::{Roots, Target, TlsOptions, Verify, split};
use crate::store::PostgresStore;

fn verify(roots: Roots, client: Option<(&str, &str)>) -> Option<Verify> {
    Some(Verify { roots, client: client.map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))) })
}

#[test]
fn tls_options_are_taken_out_of_the_url_as_the_driver_reads_it() {
    let (rest, o) =
        split("postgres://census@db.example:5432/census?sslmode=verify-full&sslrootcert=%2Fetc%2Fcensus%2Fdb%20ca.pem&application_name=x")
            .unwrap();
    assert_eq!(rest, "postgres://census@db.example:5432/census?application_name=x");
    assert_eq!(o.mode, "verify-full");
    assert_eq!(o.verify, verify(Roots::File("/etc/census/db ca.pem".into()), None));

    let (rest, o) =
        split("postgres://db.example/census?sslmode=require&sslrootcert=system&sslcert=/c.pem&sslkey=/c.key").unwrap();
    assert_eq!(rest, "postgres://db.example/census");
    assert_eq!(o.verify, verify(Roots::System, Some(("/c.pem", "/c.key"))));

    // Found by a break attempt: the driver percent-decodes keys, so
    // `ssl%6Dode=require` was left to it, and then forced off.
    let (rest, o) = split("postgres://h/d?ssl%6Dode=require&ssl%72ootcert=%2Fca.pem").unwrap();
    assert_eq!((rest.as_str(), o.mode.as_str()), ("postgres://h/d", "require"));
    assert_eq!(o.verify, verify(Roots::File("/ca.pem".into()), None));
    // A `?` in a password is where libpq, not the driver, begins the
    // options: refused, to be written %3F.
    assert!(split("postgres://u:p?w@h/d?sslmode=require&sslrootcert=system").unwrap_err().contains("%3F"));
    let (rest, o) = split("postgres://u:p%3Fw@h/d?sslmode=require&sslrootcert=system").unwrap();
    assert_eq!((rest.as_str(), o.verify.is_some()), ("postgres://u:p%3Fw@h/d", true));

    // Without TLS options the URL is left as it was.
    let plain = "postgres://census@/census?host=/run/postgresql";
    assert_eq!(split(plain).unwrap(), (plain.to_string(), TlsOptions::default()));
    for mode in ["disable", "prefer"] {
        let (rest, o) = split(&format!("postgres://h/d?sslmode={mode}")).unwrap();
        assert_eq!((rest.as_str(), o.verify), ("postgres://h/d", None));
    }
}

#[test]
fn tls_options_that_would_not_do_what_they_say_are_refused_by_name() {
    let refused = |url: &str, words: &[&str]| {
        let e = split(url).map(|_| ()).unwrap_err();
        assert!(words.iter().all(|w| e.contains(w)), "{url}: {e}");
    };
    refused("postgres://h/d?sslmode=require", &["sslrootcert", "system"]);
    refused("postgres://h/d?sslmode=verify-ca&sslrootcert=/ca.pem", &["verify-ca", "verify-full"]);
    refused("postgres://h/d?sslmode=allow", &["sslmode=allow", "verify-full"]);
    refused("postgres://h/d?sslrootcert=/ca.pem", &["sslrootcert", "no effect", "unset"]);
    refused("postgres://h/d?sslmode=prefer&sslcert=/c&sslkey=/k", &["sslcert", "prefer"]);
    refused("postgres://h/d?sslmode=require&sslrootcert=/ca&sslcert=/c", &["sslcert and sslkey"]);
    refused("postgres://h/d?sslmode=require&sslmode=disable", &["sslmode", "twice"]);
    refused("postgres://h/d?sslmode=require&sslrootcert=ca.pem", &["sslrootcert=ca.pem", "absolute"]);
    refused("postgres://h/d?sslmode=require&sslrootcert=system&sslcert=c.pem&sslkey=/k", &["sslcert", "absolute"]);
    refused("postgres://h/d?sslmode=require&sslrootcert=%FF", &["sslrootcert", "UTF-8"]);
    // Found by a second look: the driver takes everything before the first
    // `@` for user and password, wherever it is.
    refused(
        "postgres://db.example/census?sslmode=verify-full&sslrootcert=/ca.pem&password=S3cret&application_name=c@db",
        &["%40"],
    );
    refused("postgres://census:p@ss@db.example/census", &["%40"]);
    // Found by a third attempt: a second `@` in the database name or an
    // option (the rest of a password the driver cut short, which its own
    // "unknown option" message would then show).
    refused("postgres://census:Ab@cd/ef@db.example.org/census", &["%40"]);
    refused("postgres://pwuser:Zq9@x/y?Zleak=1@localhost:5432/census", &["%40"]);
    refused("postgres://db.example/census?sslnegotiation=dire%63t", &["sslnegotiation=direct"]);
    refused("postgres://db.example/census?sslmode", &["sslmode", "without a value"]);
    refused("postgres://db.example/census?sslmode=&application_name=x", &["sslmode", "without a value"]);
    refused("postgres://db.example/census?sslnegotiation=direct", &["sslnegotiation=direct", "verify-full"]);
    refused("postgres://db.example/census?sslmode=prefer&sslnegotiation=direct", &["sslnegotiation=direct"]);
}

#[test]
fn a_unix_socket_or_an_unreadable_file_fails_at_parse_naming_it() {
    let e =
        Target::parse("postgres://census@/census?host=/run/postgresql&sslmode=require&sslrootcert=system").unwrap_err();
    assert!(e.contains("/run/postgresql") && e.contains("Unix socket"), "{e}");
    let e = Target::parse("postgres://h/d?sslmode=require&sslrootcert=/nonexistent/ca.pem").unwrap_err();
    assert!(e.contains("sslrootcert") && e.contains("/nonexistent/ca.pem"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&ca, rcgen::CertificateParams::new(vec!["ca".into()]).unwrap().self_signed(&key).unwrap().pem())
        .unwrap();
    let url = format!("postgres://h/d?sslmode=require&sslrootcert={}", ca.display());
    let t = Target::parse(&url).unwrap();
    assert!(t.encrypted());
    // Require, not the driver's default Prefer, which takes a server's "no TLS" for an answer.
    assert_eq!(t.config.get_ssl_mode(), postgres::config::SslMode::Require);
    for plain in ["postgres://h/d", "postgres://h/d?sslmode=prefer", "postgres://h/d?sslmode=disable"] {
        assert_eq!(Target::parse(plain).unwrap().config.get_ssl_mode(), postgres::config::SslMode::Disable);
    }
    let e = Target::parse(&format!("{url}&host=&hostaddr=127.0.0.1")).map(drop).unwrap_err();
    assert!(e.contains("host ``"), "an empty host name leaves nothing to check: {e}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Target::parse(&format!("{url}&sslcert={0}&sslkey={0}", ca.display())).unwrap_err();
    assert!(e.contains("sslkey") && e.contains("no private key"), "{e}");
    assert!(!Target::parse("postgres://census@/census?host=/run/postgresql").unwrap().encrypted());

    // Found by a break attempt: an address alone leaves no name to check.
    let e = Target::parse("postgres://u@/d?hostaddr=127.0.0.1&sslmode=require&sslrootcert=system").unwrap_err();
    assert!(e.contains("host="), "{e}");
    // The key=value form carries no TLS options Census reads: refused, not plain.
    let e = Target::parse("host=db.example user=census sslmode=require").unwrap_err();
    assert!(e.contains("postgres:// URL form"), "{e}");
    assert!(!Target::parse("host=/run/postgresql user=census").unwrap().encrypted());

    // Found by a break attempt: a key others can read was taken; libpq refuses it.
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["census".into()]).unwrap().self_signed(&client_key).unwrap();
    let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&cert_file, client.pem()).unwrap();
    std::fs::write(&key_file, client_key.serialize_pem()).unwrap();
    let with_client = format!("{url}&sslcert={}&sslkey={}", cert_file.display(), key_file.display());
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Target::parse(&with_client).map(drop).unwrap_err();
    assert!(e.contains("c.key") && e.contains("mode 0644"), "{e}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let group_readable = Target::parse(&with_client).map(drop);
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&key_file).unwrap()) == 0 {
        assert!(group_readable.is_ok(), "0640 owned by root is libpq's exception: {group_readable:?}");
    } else {
        assert!(group_readable.unwrap_err().contains("mode 0640"));
    }
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Target::parse(&with_client).unwrap().encrypted());
    // Found by a third attempt: a key of another user (not root) was taken.
    if nix::unistd::Uid::effective().is_root() {
        std::os::unix::fs::chown(&key_file, Some(1), None).unwrap();
        let e = Target::parse(&with_client).map(drop).unwrap_err();
        assert!(e.contains("owned by uid 1"), "{e}");
    }
}

#[test]
fn pgsslmode_asking_for_tls_the_url_does_not_ask_for_is_refused() {
    // Found by a break attempt: libpq reads PGSSLMODE, this driver does not.
    let env = |mode: &'static str| move |k: &str| (k == "PGSSLMODE").then(|| mode.to_string());
    let plain = "postgres://u@db.example/d";
    let e = Target::parse_in(plain, env("verify-full")).unwrap_err();
    assert!(e.contains("PGSSLMODE=verify-full") && e.contains("URL"), "{e}");
    assert!(Target::parse_in(plain, env("prefer")).is_ok(), "asks for nothing the URL lacks");
    assert!(Target::parse_in(&format!("{plain}?sslmode=disable"), env("require")).is_ok(), "the URL says it");
    let old_spelling = |k: &str| (k == "PGREQUIRESSL").then(|| "1".to_string());
    assert!(Target::parse_in(plain, old_spelling).unwrap_err().contains("PGREQUIRESSL=1"));
}

/// The TLS server and its files, when the environment names them.
fn tls_server() -> Option<(String, PathBuf)> {
    let url = std::env::var("CENSUS_TEST_POSTGRES_TLS").ok().filter(|s| !s.is_empty());
    let dir = std::env::var_os("CENSUS_TEST_POSTGRES_TLS_DIR").map(PathBuf::from);
    match (url, dir) {
        (Some(url), Some(dir)) => Some((url, dir)),
        _ => {
            assert!(
                std::env::var_os("CENSUS_REQUIRE_POSTGRES").is_none(),
                "CENSUS_REQUIRE_POSTGRES without CENSUS_TEST_POSTGRES_TLS and CENSUS_TEST_POSTGRES_TLS_DIR"
            );
            None
        }
    }
}

fn with(url: &str, options: &str) -> String {
    format!("{url}{}{options}", if url.contains('?') { '&' } else { '?' })
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Every connection the store makes — its pool, a full reconcile's turn, a
/// scratch schema made and dropped — goes over TLS, verified against the
/// CA named; the server refuses plain TCP, so each of them proves it.
#[test]
fn a_store_over_verified_tls_works_end_to_end() {
    use crate::store::CoordinationStore;
    use crate::store::prelude::*;
    let Some((url, dir)) = tls_server() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES_TLS is not set") };
    let tls = with(&url, &format!("sslmode=verify-full&sslrootcert={}", file(&dir, "ca.pem")));
    let store = PostgresStore::open_scratch(&tls).unwrap();
    let ssl: bool = store
        .run(|c| Ok(c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?.get(0)))
        .unwrap();
    assert!(ssl, "the pool's connection is encrypted");
    // A client that leaves what it is sent unread for a minute loses its connection (`stuck.rs`).
    let unread: String =
        store.run(|c| Ok(c.query_one("SELECT current_setting('tcp_user_timeout')", &[])?.get(0))).unwrap();
    assert_eq!(unread, "60000", "milliseconds");
    let turn = store.turn(crate::store::Job::FullReconcile, &|| false).unwrap();
    drop(turn);
    assert!(store.ping().is_ok());
    drop(store);

    // The server takes no plain TCP: this is what makes the test above a proof.
    let e = PostgresStore::open(&with(&url, "sslmode=disable")).unwrap_err().to_string();
    assert!(e.contains("no encryption"), "{e}");
}

#[test]
fn a_server_the_ca_did_not_sign_or_a_name_its_certificate_lacks_is_refused() {
    let Some((url, dir)) = tls_server() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES_TLS is not set") };
    let other = with(&url, &format!("sslmode=require&sslrootcert={}", file(&dir, "other-ca.pem")));
    let e = PostgresStore::open(&other).unwrap_err();
    // Unavailable (503, retried), not a statement's fault: the server's certificate may be fixed while censusd runs.
    assert!(matches!(e, crate::store::StoreError::Unavailable(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("certificate") && e.contains("UnknownIssuer"), "{e}");

    // The certificate names `localhost`; the same server reached as 127.0.0.1.
    let by_address = url.replace("localhost", "127.0.0.1");
    assert_ne!(by_address, url, "CENSUS_TEST_POSTGRES_TLS names the server as localhost");
    let e = PostgresStore::open(&with(&by_address, &format!("sslmode=require&sslrootcert={}", file(&dir, "ca.pem"))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid for name \"127.0.0.1\""), "{e}");
}

#[test]
fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
    let Some((url, dir)) = tls_server() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES_TLS is not set") };
    let as_cert_role = url.replacen("postgres://postgres@", "postgres://census_cert@", 1);
    assert_ne!(as_cert_role, url, "CENSUS_TEST_POSTGRES_TLS logs in as postgres");
    let verified = with(&as_cert_role, &format!("sslmode=verify-full&sslrootcert={}", file(&dir, "ca.pem")));
    let e = PostgresStore::open_scratch(&verified).unwrap_err().to_string();
    assert!(e.contains("certificate"), "without a client certificate the server refuses: {e}");
    let store = PostgresStore::open_scratch(&with(
        &verified,
        &format!("sslcert={}&sslkey={}", file(&dir, "client.pem"), file(&dir, "client.key")),
    ))
    .unwrap();
    let user: String = store.run(|c| Ok(c.query_one("SELECT current_user::text", &[])?.get(0))).unwrap();
    assert_eq!(user, "census_cert");
}

/// A server that answers the TLS request with "N" (as one without TLS, or a
/// machine in the middle, does) gets no plain-text startup: the connection
/// fails, and nothing more crosses it.
#[test]
fn a_server_refusing_tls_gets_nothing_in_clear() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).unwrap();
        socket.write_all(b"N").unwrap();
        let mut after = Vec::new();
        let _ = socket.read_to_end(&mut after);
        (request, after)
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&ca, rcgen::CertificateParams::new(vec!["ca".into()]).unwrap().self_signed(&key).unwrap().pem())
        .unwrap();
    let target = Target::parse(&format!(
        "postgres://census:S3cret@localhost:{port}/census?hostaddr=127.0.0.1&sslmode=require&sslrootcert={}",
        ca.display()
    ))
    .unwrap();
    let e = target.connect().map(drop).unwrap_err();
    assert!(super::super::with_causes(&e).contains("does not support TLS"), "{e}");
    // "Database unavailable" (503, retried: TLS may be back on the server
    // soon). No I/O error lies beneath this one, so this also holds
    // `tls_failed` to the driver's wording of its TLS failures, which it
    // recognises by text (the driver's error kinds are private).
    assert!(matches!(crate::store::StoreError::from(e), crate::store::StoreError::Unavailable(_)));
    let (request, after) = server.join().unwrap();
    // SSLRequest: length 8, code 80877103 (PostgreSQL protocol, 55.2.10).
    assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    assert!(after.is_empty(), "nothing after the refusal, least of all a startup with the user: {after:?}");
}
