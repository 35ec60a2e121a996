//! PEM files an operator names: the HTTPS listener's certificate and key,
//! and the CA, certificate and key the daemon presents to PostgreSQL.
//! Read with the size limit every operator file has
//! ([`census_proto::config::MAX_PEM_FILE`]); errors name the file.

use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn read(path: &Path) -> Result<Vec<u8>, String> {
    census_proto::config::read_operator_bytes(path, census_proto::config::MAX_PEM_FILE)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Every certificate in the PEM file at `path`, in file order.
///
/// # Errors
/// The file cannot be read, a PEM block does not parse, or it holds no
/// certificate: the message names the file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut read(path)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

/// The first private key (PKCS#1, PKCS#8 or SEC1) in the PEM file at `path`.
///
/// # Errors
/// The file cannot be read, does not parse, or holds no private key.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice()).map_err(|e| format!("{}: {e}", path.display()))?.ok_or_else(|| {
        let text = String::from_utf8_lossy(&pem);
        if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
            format!(
                "{}: an encrypted private key, and Census cannot ask for its passphrase: store it decrypted \
                 (`openssl pkey -in KEY -out KEY.plain`), readable only by the user censusd runs as",
                path.display()
            )
        } else {
            format!("{}: no private key found", path.display())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").unwrap();
        let e = certificates(&empty).unwrap_err();
        assert!(e.contains("empty.pem") && e.contains("no certificate"), "{e}");
        let e = private_key(&empty).unwrap_err();
        assert!(e.contains("empty.pem") && e.contains("no private key"), "{e}");
        let e = certificates(&dir.path().join("absent.pem")).unwrap_err();
        assert!(e.contains("absent.pem"), "{e}");

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["db.example".into()]).unwrap().self_signed(&key).unwrap();
        let both = dir.path().join("both.pem");
        std::fs::write(&both, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        assert_eq!(certificates(&both).unwrap().len(), 1);
        assert!(private_key(&both).is_ok());

        // Found by a break attempt: an encrypted key was "no private key found".
        let encrypted = dir.path().join("encrypted.key");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = private_key(&encrypted).unwrap_err();
        assert!(e.contains("encrypted.key") && e.contains("encrypted private key"), "{e}");
    }
}
