//! Configuration: one serde tree (this file), loaded with figment from built-in defaults <
//! a TOML file < `GRIDDOCK_*` environment variables (`__` nests), then validated once.
//! Unknown keys are errors; every error names the offending key.

mod listeners;
mod types;

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use types::{
    AcmeChallenge, AnonymousMode, FtpTlsMode, FxpMode, LogFormat, PortRange, TlsSource, TpcMode,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
    pub public_host: String,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub ftp: FtpConfig,
    pub gridftp: GridftpConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
    pub acme: AcmeConfig,
    pub webdav: WebdavConfig,
    /// Deprecated alias of `[webdav]` (see [`HttpsConfig`]).
    #[serde(skip_serializing_if = "HttpsConfig::is_unset")]
    pub https: HttpsConfig,
    pub limits: LimitsConfig,
    pub storage: StorageConfig,
}

/// `[storage]`: the data directory's housekeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Upload files (`.griddock-tmp.*` left by a crash, `.griddock-part.*` not resumed)
    /// untouched this long are removed, at start and every quarter of this (at most
    /// hourly); never one a running upload of this process holds.
    #[serde(with = "humantime_serde")]
    pub stale_upload_age: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            stale_upload_age: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpConfig {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
    pub passive_ports: PortRange,
    pub fxp: FxpMode,
    pub fxp_allow: Vec<ipnet::IpNet>,
    pub banner: String,
    pub tls: FtpTlsMode,
}

/// `[gridftp]`: the GridFTP endpoint, the same engine as `[ftp]` on its own port. It
/// shares `public_host`, the FXP policy (`ftp.fxp`, `ftp.fxp_allow`), `[auth]` and TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GridftpConfig {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
    pub passive_ports: PortRange,
    pub banner: String,
    /// How often the receiving side of a transfer sends 111 restart and 112 performance
    /// markers (GFD.20); gfal2 cancels copies that report no progress for minutes.
    #[serde(with = "humantime_serde")]
    pub marker_interval: Duration,
    /// Advertise DCAU (GSI data-channel authentication, PROT C/P) in FEAT and default to
    /// `DCAU A` after a GSI login, as globus-gridftp-server does (on by default). Off, Globus
    /// clients use no data-channel security unless they ask for it.
    pub advertise_dcau: bool,
    /// Largest file a MODE E upload may write, in bytes: blocks ending beyond it are
    /// refused (552). Default: the size of the file system the upload goes to.
    pub max_file_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub anonymous: AnonymousMode,
    pub users_file: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub failed_login_delay: Duration,
    pub max_login_failures: u32,
    /// GSI on the GridFTP endpoint (`gsiftp://`): the grid-mapfile mapping certificate
    /// DNs to accounts. GSI is on when this is set.
    pub gridmap_file: Option<PathBuf>,
    /// Trusted CAs and CRLs for GSI (IGTF layout: `<hash>.0`, `<hash>.r0`).
    pub x509_cert_dir: PathBuf,
    /// Whether a limited proxy may write (sites usually say no).
    pub limited_proxy_write: bool,
    /// `[[auth.token_issuers]]`: WLCG Common JWT Profile issuers whose bearer tokens the
    /// HTTPS data endpoint accepts.
    pub token_issuers: Vec<TokenIssuerConfig>,
    /// Longest lifetime of a macaroon griddock issues (also capped by the caller's own).
    #[serde(with = "humantime_serde")]
    pub macaroon_max_validity: Duration,
}

/// One trusted token issuer (`[[auth.token_issuers]]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenIssuerConfig {
    /// The `iss` claim, exactly (an `https://` URL); keys come from its
    /// `/.well-known/openid-configuration`.
    pub issuer: String,
    /// Server path that the token's scope paths are relative to (`/atlas` + `storage.read:/data`
    /// grants `/atlas/data`).
    #[serde(default = "root_path")]
    pub base_path: String,
    /// Accepted `aud` values (e.g. `https://<public_host>`); the WLCG "any" audience
    /// `https://wlcg.cern.ch/jwt/v1/any` is always accepted too.
    pub audience: Vec<String>,
    /// PEM CA certificates to trust for this issuer's HTTPS, besides the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn root_path() -> String {
    "/".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub source: TlsSource,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Also write the current chain and key as `hostcert.pem` / `hostkey.pem` here (the
    /// /etc/grid-security layout grid tools expect).
    pub export_dir: Option<PathBuf>,
}

/// `[acme]`: certificates from an RFC 8555 server (Let's Encrypt by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// `letsencrypt`, `letsencrypt-staging` or a directory URL.
    pub directory: String,
    pub email: Option<String>,
    /// Names to certify; empty means `[public_host]`.
    pub domains: Vec<String>,
    pub challenge: AcmeChallenge,
    /// PEM root to trust for a private ACME server (e.g. pebble).
    pub ca_file: Option<PathBuf>,
    /// Renew this long before expiry; default: once 2/3 of the lifetime has passed.
    #[serde(with = "humantime_serde")]
    pub renew_before: Option<Duration>,
    /// First retry delay after a failure (doubles up to one hour, with jitter).
    #[serde(with = "humantime_serde")]
    pub retry_min: Duration,
}

/// `[webdav]`: the HTTPS/WebDAV data endpoint (`davs://host:port/path`). Its listener
/// also answers ACME tls-alpn-01 challenges; health and metrics stay on `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebdavConfig {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
    /// HTTP third-party copy (`COPY` with `Source:` or `Destination:`): which remote
    /// addresses griddock may connect to. `public`: any globally routable address;
    /// `allow-list`: only `tpc_allow`; `off`: COPY is refused.
    pub tpc: TpcMode,
    /// Networks a COPY may always reach (checked after name resolution), also under
    /// `public`: the way to let a copy reach a private or loopback peer.
    pub tpc_allow: Vec<ipnet::IpNet>,
    /// Extra CA certificates (PEM) trusted for the remote side of a COPY, beside the
    /// system roots and the IGTF directory `auth.x509_cert_dir`.
    pub tpc_ca_file: Option<PathBuf>,
    /// Most parallel `Range` GETs one pull runs (`X-Number-Of-Streams` is capped here).
    pub tpc_max_streams: usize,
    /// Most data connections all third-party copies hold at once (each buffers up to
    /// 1 MiB); copies beyond wait, sending markers.
    pub tpc_max_connections: usize,
    /// Period of the performance markers in a COPY's response body.
    #[serde(with = "humantime_serde")]
    pub marker_interval: Duration,
    /// `[webdav.browser]`: the web page for browsers on this endpoint.
    pub browser: BrowserConfig,
}

/// `[webdav.browser]`: the page a browser gets at `https://host/` (browse, upload,
/// download; docs/decisions/0004-browser-page.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    pub enabled: bool,
    /// How long a login lasts (the session cookie's `Max-Age`; no sliding renewal).
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Upload objects one session may hold open at once.
    pub max_uploads_per_session: usize,
    /// Bytes per chunk the page sends (one request each); also the most one chunk may be.
    pub chunk_size: u64,
}

impl BrowserConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.session_lifetime.is_zero() {
            return Err(ConfigError::at(
                "webdav.browser.session_lifetime",
                "must be longer than zero",
            ));
        }
        if self.max_uploads_per_session == 0 {
            return Err(ConfigError::at(
                "webdav.browser.max_uploads_per_session",
                "must be at least 1",
            ));
        }
        if !(64 << 10..=256 << 20).contains(&self.chunk_size) {
            return Err(ConfigError::at(
                "webdav.browser.chunk_size",
                "must be between 64 KiB and 256 MiB",
            ));
        }
        Ok(())
    }
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_lifetime: Duration::from_secs(8 * 3600),
            max_uploads_per_session: 16,
            chunk_size: 16 << 20,
        }
    }
}

/// `[https]`: retired. The HTTPS listener became the WebDAV endpoint; for one release
/// `https.listen` is still read as `webdav.listen` (when that is not set) and
/// `https.enabled = true` as `webdav.enabled = true`, with a warning at start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
}

impl HttpsConfig {
    fn is_unset(&self) -> bool {
        self.enabled.is_none() && self.listen.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_sessions: usize,
    /// Control sessions one client address may hold on each endpoint.
    pub max_sessions_per_client: usize,
    /// Passive listeners one client address may hold open on each endpoint; default:
    /// half of that endpoint's passive range.
    pub max_passive_per_client: Option<usize>,
    /// Threads for blocking work (file system calls, disk I/O of transfers, TLS data
    /// channels). Clear data channels never hold one while waiting on the peer.
    pub blocking_threads: usize,
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub data_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: "./data".into(),
            state_dir: "./state".into(),
            public_host: "127.0.0.1".into(),
            shutdown_grace: Duration::from_secs(30),
            log_format: LogFormat::Human,
            ftp: FtpConfig::default(),
            gridftp: GridftpConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            acme: AcmeConfig::default(),
            webdav: WebdavConfig::default(),
            https: HttpsConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

impl Default for FtpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: ([0, 0, 0, 0], 2121).into(),
            passive_ports: PortRange {
                start: 50000,
                end: 50200,
            },
            fxp: FxpMode::AllowList,
            fxp_allow: Vec::new(),
            banner: "griddock FTP server ready.".into(),
            tls: FtpTlsMode::Optional,
        }
    }
}

impl Default for GridftpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: ([0, 0, 0, 0], 2811).into(),
            passive_ports: PortRange {
                start: 50000,
                end: 50200,
            },
            banner: "griddock GridFTP server ready.".into(),
            marker_interval: Duration::from_secs(5),
            advertise_dcau: true,
            max_file_size: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: ([0, 0, 0, 0], 8080).into(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            anonymous: AnonymousMode::Read,
            users_file: None,
            failed_login_delay: Duration::from_secs(1),
            max_login_failures: 3,
            gridmap_file: None,
            x509_cert_dir: PathBuf::from("/etc/grid-security/certificates"),
            limited_proxy_write: false,
            token_issuers: Vec::new(),
            macaroon_max_validity: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            source: TlsSource::SelfSigned,
            cert_file: None,
            key_file: None,
            export_dir: None,
        }
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            directory: "letsencrypt-staging".into(),
            email: None,
            domains: Vec::new(),
            challenge: AcmeChallenge::Http01,
            ca_file: None,
            renew_before: None,
            retry_min: Duration::from_secs(5),
        }
    }
}

impl Default for WebdavConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: ([0, 0, 0, 0], 8443).into(),
            tpc: TpcMode::Public,
            tpc_allow: Vec::new(),
            tpc_ca_file: None,
            tpc_max_streams: 16,
            tpc_max_connections: 256,
            marker_interval: Duration::from_secs(5),
            browser: BrowserConfig::default(),
        }
    }
}

impl AcmeConfig {
    /// The directory URL (`letsencrypt` and `letsencrypt-staging` are shorthands).
    pub fn directory_url(&self) -> &str {
        match self.directory.as_str() {
            "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory",
            "letsencrypt-staging" => "https://acme-staging-v02.api.letsencrypt.org/directory",
            url => url,
        }
    }
}

impl Config {
    /// The names an ACME certificate covers.
    pub fn acme_domains(&self) -> Vec<String> {
        if self.acme.domains.is_empty() {
            vec![self.public_host.clone()]
        } else {
            self.acme.domains.clone()
        }
    }

    /// Whether tls-alpn-01 challenges must be answered (on the WebDAV listener).
    pub fn wants_tls_alpn(&self) -> bool {
        self.tls.source == TlsSource::Acme && self.acme.challenge == AcmeChallenge::TlsAlpn01
    }

    /// Applies the deprecated `[https]` keys to `[webdav]`; returns what to warn about.
    fn apply_https_alias(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(listen) = self.https.listen {
            if self.webdav.listen == WebdavConfig::default().listen {
                self.webdav.listen = listen;
            }
            notes.push(format!(
                "https.listen is deprecated: the HTTPS listener is now the WebDAV endpoint; \
                 set webdav.listen (using {})",
                self.webdav.listen
            ));
        }
        if let Some(enabled) = self.https.enabled {
            if enabled {
                self.webdav.enabled = true;
            }
            notes.push(
                "https.enabled is deprecated and ignored unless true: use webdav.enabled".into(),
            );
        }
        notes
    }

    /// Warnings about deprecated keys in this (loaded) configuration.
    pub fn deprecations(&self) -> Vec<String> {
        self.clone().apply_https_alias()
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_sessions: 1000,
            max_sessions_per_client: 200,
            max_passive_per_client: None,
            blocking_threads: 512,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(900),
            data_timeout: Duration::from_secs(60),
        }
    }
}

/// A configuration problem, rendered as `<dotted.key>: <problem>`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn at(key: &str, problem: impl std::fmt::Display) -> Self {
        ConfigError(format!("{key}: {problem}"))
    }
}

/// Names of keys whose values are secrets; `to_redacted_toml` hides them.
const SECRET_KEYS: &[&str] = &["password", "secret", "token", "eab_hmac_key", "private_key"];
/// Keys that match a secret name but hold none (public issuer settings).
const NOT_SECRET_KEYS: &[&str] = &["token_issuers"];

impl Config {
    /// Defaults < TOML `file` < `GRIDDOCK_*` environment, then validation.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        let env = Env::prefixed("GRIDDOCK_")
            .split("__")
            .filter(|k| !k.as_str().eq_ignore_ascii_case("config"));
        let mut cfg: Config = fig.merge(env).extract().map_err(render)?;
        let https = cfg.https.clone();
        cfg.apply_https_alias();
        // Kept so that `deprecations()` can still report the old keys.
        cfg.https = https;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.public_host.is_empty() || self.public_host.contains(char::is_whitespace) {
            return Err(ConfigError::at(
                "public_host",
                "must be a host name or IP address",
            ));
        }
        if self.tls.source == TlsSource::Files
            && (self.tls.cert_file.is_none() || self.tls.key_file.is_none())
        {
            return Err(ConfigError::at(
                "tls.cert_file",
                "source = \"files\" needs cert_file and key_file",
            ));
        }
        if self.tls.source == TlsSource::Acme {
            let url = self.acme.directory_url();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::at(
                    "acme.directory",
                    "letsencrypt, letsencrypt-staging or an http(s) URL",
                ));
            }
            if self
                .acme_domains()
                .iter()
                .any(|d| d.parse::<std::net::IpAddr>().is_ok())
            {
                return Err(ConfigError::at(
                    "acme.domains",
                    "ACME needs DNS names (set public_host or acme.domains to the server's domain)",
                ));
            }
        }
        if self.webdav.tpc_max_streams == 0 || self.webdav.tpc_max_streams > 64 {
            return Err(ConfigError::at("webdav.tpc_max_streams", "1 to 64"));
        }
        if self.webdav.tpc_max_connections == 0 {
            return Err(ConfigError::at("webdav.tpc_max_connections", "at least 1"));
        }
        if self.webdav.marker_interval.is_zero() {
            return Err(ConfigError::at(
                "webdav.marker_interval",
                "must be positive",
            ));
        }
        if self.wants_tls_alpn() && !self.webdav.enabled {
            return Err(ConfigError::at(
                "webdav.enabled",
                "acme.challenge = \"tls-alpn-01\" is answered on the WebDAV listener: enable it or use http-01",
            ));
        }
        if self.webdav.enabled && self.webdav.listen.port() == 0 {
            return Err(ConfigError::at("webdav.listen", "needs a port"));
        }
        if self.webdav.enabled && self.http.enabled && self.webdav.listen == self.http.listen {
            return Err(ConfigError::at(
                "webdav.listen",
                "the same address as http.listen",
            ));
        }
        listeners::validate(self)?;
        let counts = [
            ("limits.max_sessions", self.limits.max_sessions),
            (
                "limits.max_sessions_per_client",
                self.limits.max_sessions_per_client,
            ),
            (
                "limits.max_passive_per_client",
                self.limits.max_passive_per_client.unwrap_or(1),
            ),
            ("limits.blocking_threads", self.limits.blocking_threads),
        ];
        for (key, n) in counts {
            if n == 0 {
                return Err(ConfigError::at(key, "must be at least 1"));
            }
        }
        if self.auth.max_login_failures == 0 {
            return Err(ConfigError::at(
                "auth.max_login_failures",
                "must be at least 1",
            ));
        }
        self.validate_token_issuers()?;
        self.webdav.browser.validate()?;
        if self.auth.macaroon_max_validity.is_zero() {
            return Err(ConfigError::at(
                "auth.macaroon_max_validity",
                "must be longer than zero",
            ));
        }
        let durations = [
            ("limits.login_timeout", self.limits.login_timeout),
            ("limits.idle_timeout", self.limits.idle_timeout),
            ("limits.data_timeout", self.limits.data_timeout),
            ("storage.stale_upload_age", self.storage.stale_upload_age),
        ];
        for (key, d) in durations {
            if d.is_zero() {
                return Err(ConfigError::at(key, "must be longer than zero"));
            }
        }
        Ok(())
    }

    fn validate_token_issuers(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (n, i) in self.auth.token_issuers.iter().enumerate() {
            let key = |k: &str| format!("auth.token_issuers[{n}].{k}");
            check_issuer_url(&i.issuer).map_err(|p| ConfigError::at(&key("issuer"), p))?;
            if !seen.insert(i.issuer.as_str()) {
                return Err(ConfigError::at(&key("issuer"), "listed twice"));
            }
            let normalised = crate::auth::rights::normalise_grant_path(&i.base_path);
            if normalised.as_deref() != Some(i.base_path.as_str()) {
                return Err(ConfigError::at(
                    &key("base_path"),
                    "must be an absolute, normalised path (no `..`, `.`, `//` or trailing `/`)",
                ));
            }
            if i.audience.is_empty() || i.audience.iter().any(|a| a.trim().is_empty()) {
                return Err(ConfigError::at(
                    &key("audience"),
                    "list at least one audience, e.g. [\"https://<public_host>\"]",
                ));
            }
            if let Some(ca) = &i.ca_file {
                if !ca.is_file() {
                    return Err(ConfigError::at(&key("ca_file"), "no such file"));
                }
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets replaced by `"<redacted>"`.
    pub fn to_redacted_toml(&self) -> String {
        let mut value = match toml::Value::try_from(self) {
            Ok(v) => v,
            Err(e) => return format!("# cannot render configuration: {e}\n"),
        };
        redact(&mut value);
        toml::to_string_pretty(&value)
            .unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

fn redact(value: &mut toml::Value) {
    if let toml::Value::Table(t) = value {
        for (k, v) in t.iter_mut() {
            if SECRET_KEYS.iter().any(|s| k.contains(s)) && !NOT_SECRET_KEYS.contains(&k.as_str()) {
                *v = toml::Value::String("<redacted>".into());
            } else {
                redact(v);
            }
        }
    }
}

/// An issuer must be an `https://host[:port][/path]` URL without query or fragment.
fn check_issuer_url(issuer: &str) -> Result<(), &'static str> {
    let uri: hyper::Uri = issuer.parse().map_err(|_| "not a URL")?;
    if uri.scheme_str() != Some("https") || uri.authority().is_none() {
        return Err("must be an https:// URL (keys are fetched over HTTPS only)");
    }
    if issuer.contains(['?', '#']) {
        return Err("must not carry a query or fragment");
    }
    Ok(())
}

/// Renders figment's error as one line naming the key (and the source when known).
fn render(err: figment::Error) -> ConfigError {
    let e = err.into_iter().next();
    let Some(e) = e else {
        return ConfigError("invalid configuration".into());
    };
    let mut key = e.path.join(".");
    let problem = match &e.kind {
        figment::error::Kind::UnknownField(field, _) => {
            if !key.ends_with(field.as_str()) {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            format!("unknown key \"{key}\"")
        }
        other => other.to_string(),
    };
    let source = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    if key.is_empty() {
        ConfigError(format!("{problem}{source}"))
    } else {
        ConfigError(format!("{key}: {problem}{source}"))
    }
}

#[cfg(test)]
mod tests;
