//! The local CA and the cache nodes' certificate, made once per repository (`.local/ca/`) so
//! that the cache runs over TLS as ElastiCache Serverless does, and the functions verify it.
//!
//! rcgen (the rustls project's certificate generator, on the aws-lc-rs the binaries already
//! carry) rather than the openssl command line: nothing to install, and the same code on every
//! machine.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The CA's certificate: what a client trusts (`SSL_CERT_FILE` of the functions).
pub const CA_CERT: &str = "ca.pem";
/// The nodes' certificate (SAN 127.0.0.1 and localhost), signed by the CA, and its key.
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// The files of a local CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCa {
    pub dir: PathBuf,
}

impl LocalCa {
    /// The CA in `dir`, made there first if it is not (all files or none: it is made in a
    /// directory beside it and renamed into place, so stacks starting together never see half
    /// of one, and the first to finish wins).
    pub fn ensure(dir: &Path) -> anyhow::Result<Self> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let ca = Self { dir: dir.clone() };
        if ca.is_complete() {
            return Ok(ca);
        }
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let staging = parent.join(format!(
            ".ca-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        let made = write_new_ca(&staging);
        let moved = made.and_then(|()| {
            if dir.exists() && !ca.is_complete() {
                // A half-made CA from an interrupted older run: replace it.
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
            match std::fs::rename(&staging, &dir) {
                Ok(()) => {
                    tracing::info!("made a local CA for the cache's TLS in {}", dir.display());
                    Ok(())
                }
                // Another stack made it first.
                Err(_) if ca.is_complete() => Ok(()),
                Err(e) => Err(e).with_context(|| format!("cannot create {}", dir.display())),
            }
        });
        let _ = std::fs::remove_dir_all(&staging);
        moved.map(|()| ca)
    }

    fn is_complete(&self) -> bool {
        [CA_CERT, SERVER_CERT, SERVER_KEY]
            .iter()
            .all(|f| self.dir.join(f).is_file())
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    pub fn server_cert(&self) -> PathBuf {
        self.dir.join(SERVER_CERT)
    }

    pub fn server_key(&self) -> PathBuf {
        self.dir.join(SERVER_KEY)
    }
}

/// A CA (ECDSA P-256) and a certificate for 127.0.0.1 and localhost it signed, usable by the
/// nodes as servers (clients) and as clients of each other (the cluster bus, over TLS too).
fn write_new_ca(dir: &Path) -> anyhow::Result<()> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = name("Rota local cache CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])?;
    params.distinguished_name = name("localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;

    std::fs::write(dir.join(CA_CERT), ca.pem())?;
    std::fs::write(dir.join(SERVER_CERT), cert.pem())?;
    write_private(&dir.join(SERVER_KEY), &key.serialize_pem())?;
    // The CA's key is not kept: nothing else is ever signed with it.
    Ok(())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// A key file only its owner reads (redis-server reads it as the same user).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join(".local/ca");
        let first = LocalCa::ensure(&ca_dir).unwrap();
        let pem = std::fs::read_to_string(first.ca_cert()).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(
            std::fs::read_to_string(first.server_key())
                .unwrap()
                .contains("PRIVATE KEY")
        );
        let again = LocalCa::ensure(&ca_dir).unwrap();
        assert_eq!(again, first);
        assert_eq!(std::fs::read_to_string(again.ca_cert()).unwrap(), pem);
        // Nothing left beside it.
        let entries: Vec<_> = std::fs::read_dir(ca_dir.parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn a_half_made_ca_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        std::fs::create_dir_all(&ca_dir).unwrap();
        std::fs::write(ca_dir.join(CA_CERT), "junk").unwrap();
        let ca = LocalCa::ensure(&ca_dir).unwrap();
        assert!(
            std::fs::read_to_string(ca.ca_cert())
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(ca.server_cert().is_file() && ca.server_key().is_file());
    }
}
