//! `serve --web-config FILE`: TLS and basic authentication for the metrics endpoint, in the
//! format of Prometheus's web configuration file (its exporters' `--web.config.file`):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # PEM: the certificate, then its chain
//!   key_file: server.key           # PEM: PKCS#8, PKCS#1 or SEC1
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: clients-ca.crt # needed by the two that verify
//!   min_version: TLS12             # TLS12 (default) or TLS13; max_version too
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hashes, as htpasswd -B makes them
//! ```
//!
//! Relative paths are relative to the file's directory. Everything is read and checked before
//! the daemon starts: the first problem is one line (exit status 2). Keys this file format has
//! that enetstat does not implement (`http_server_config`, cipher suites, curves, unverified
//! client certificates) are refused by name rather than ignored.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    RootCertStore, ServerConfig, SupportedProtocolVersion,
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
    version::{TLS12, TLS13},
};
use serde::Deserialize;

/// A checked web configuration.
#[derive(Clone, Default)]
pub(crate) struct WebConfig {
    /// Serve HTTPS with this, when set.
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// User name -> bcrypt hash; when not empty, every request must authenticate.
    pub(crate) users: BTreeMap<String, String>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hashes are not printed.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "web config")]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "tls_server_config")]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

impl WebConfig {
    /// Reads and checks `path`. The error names the file and says what is wrong with it.
    pub(crate) fn load(path: &Path) -> Result<WebConfig, String> {
        let fail = |why: String| format!("--web-config {}: {why}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).map_err(fail)
    }

    /// Checks a web configuration whose relative paths are relative to `dir`.
    fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
        if text.trim().is_empty() {
            return Ok(WebConfig::default());
        }
        let raw: RawWebConfig =
            serde_norway::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        let mut users = BTreeMap::new();
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            if user.contains(':') {
                return Err(format!(
                    "basic_auth_users: user name {user:?} has a ':', which basic auth cannot send"
                ));
            }
            hash.parse::<bcrypt::HashParts>().map_err(|_| {
                format!("basic_auth_users: {user:?}'s password is not a bcrypt hash")
            })?;
            users.insert(user, hash);
        }
        let tls = match raw.tls_server_config {
            Some(tls) => Some(Arc::new(tls_config(tls, dir)?)),
            None => None,
        };
        Ok(WebConfig { tls, users })
    }
}

/// The versions offered, oldest first.
static VERSIONS: [&SupportedProtocolVersion; 2] = [&TLS12, &TLS13];

/// A version's place in [`VERSIONS`].
fn version(field: &str, name: &str) -> Result<usize, String> {
    match name {
        "TLS12" => Ok(0),
        "TLS13" => Ok(1),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{field}: {name} is not offered (TLS12 and TLS13 are)"
        )),
        other => Err(format!(
            "tls_server_config.{field}: unknown version {other:?} (TLS12 or TLS13)"
        )),
    }
}

fn tls_config(raw: RawTls, dir: &Path) -> Result<ServerConfig, String> {
    let resolve = |path: &Path| dir.join(path);
    let (Some(cert_file), Some(key_file)) = (raw.cert_file, raw.key_file) else {
        return Err("tls_server_config needs cert_file and key_file".to_string());
    };
    let (cert_file, key_file) = (resolve(&cert_file), resolve(&key_file));
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cert_file {}: no PEM certificate in it",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("key_file {}: {e}", key_file.display()))?;

    let min = version("min_version", raw.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version("max_version", raw.max_version.as_deref().unwrap_or("TLS13"))?;
    if min > max {
        return Err("tls_server_config: min_version is above max_version".to_string());
    }
    let versions = &VERSIONS[min..=max];

    let provider: Arc<CryptoProvider> = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match (auth_type, raw.client_ca_file) {
        ("NoClientCert", None) => builder.with_no_client_auth(),
        ("NoClientCert", Some(_)) => {
            return Err("tls_server_config: client_ca_file needs client_auth_type \
                 RequireAndVerifyClientCert or VerifyClientCertIfGiven"
                .to_string());
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", Some(ca_file)) => {
            let ca_file = resolve(&ca_file);
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&ca_file)
                .and_then(|cas| cas.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?;
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "client_ca_file {}: no PEM certificate in it",
                    ca_file.display()
                ));
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", None) => {
            return Err(format!(
                "tls_server_config: client_auth_type {auth_type} needs client_ca_file"
            ));
        }
        ("RequestClientCert" | "RequireAnyClientCert", _) => {
            return Err(format!(
                "tls_server_config: client_auth_type {auth_type} (a client certificate taken \
                 without verifying it) is not supported: use RequireAndVerifyClientCert or \
                 VerifyClientCertIfGiven with client_ca_file"
            ));
        }
        (other, _) => {
            return Err(format!(
                "tls_server_config: unknown client_auth_type {other:?}"
            ));
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "cert_file {} and key_file {}: {e}",
            cert_file.display(),
            key_file.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bcrypt hash of "secret" at the lowest cost.
    fn hash() -> String {
        bcrypt::hash("secret", 4).unwrap()
    }

    #[test]
    fn users_and_an_empty_file() {
        let config = WebConfig::parse(
            &format!("basic_auth_users:\n  alice: {}\n", hash()),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(config.users.keys().collect::<Vec<_>>(), ["alice"]);
        assert!(config.tls.is_none());
        assert!(bcrypt::verify("secret", &config.users["alice"]).unwrap());
        let empty = WebConfig::parse("\n", Path::new("/")).unwrap();
        assert!(empty.users.is_empty() && empty.tls.is_none());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = Path::new("/nonexistent-dir");
        for (text, says) in [
            ("basic_auth_users:\n  alice: plain\n", "not a bcrypt hash"),
            (
                "http_server_config:\n  http2: false\n",
                "unknown field `http_server_config`",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n",
                "needs cert_file and key_file",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
                "cert_file /nonexistent-dir/a.crt: ",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
                "unknown field `cipher_suites`",
            ),
            ("basic_auth_users: [1, 2]\n", "basic_auth_users"),
            (": :\n  - [", ""),
        ] {
            let err = WebConfig::parse(text, dir)
                .err()
                .unwrap_or_else(|| panic!("{text}"));
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{text:?}: {err}");
        }
        let err = WebConfig::load(Path::new("/nonexistent-dir/web.yml")).unwrap_err();
        assert!(
            err.starts_with("--web-config /nonexistent-dir/web.yml: "),
            "{err}"
        );
    }
}
