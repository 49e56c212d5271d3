//! Configuration: built-in defaults < TOML file < `HYBRIDAUTH_SECTION__KEY` environment.
//!
//! Everything is validated once, at start-up, into typed values; an invalid value is refused
//! with the key's dotted name and what was expected, so an operator never meets a half-valid
//! configuration at request time. `conf/hybridauth.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::directory::backend::{PostgresTarget, StoreBackend};
use crate::endpoint::{Endpoint, EndpointKind};

pub use crate::clock::ClockMode;
pub use crate::directory::domain::DirectoryConfig;
pub use crate::time::{format_duration, parse_duration, parse_time};
pub use crate::verify::hashing::HashingConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// The raw, serde-shaped configuration. Validated into [`Config`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct RawConfig {
    pub store: RawStore,
    pub clock: RawClock,
    pub directory: RawDirectory,
    pub hashing: RawHashing,
    pub signin_log: RawSigninLog,
    pub logging: RawLogging,
    pub radius: RawRadius,
    pub ldap: RawLdap,
    pub admin: RawAdmin,
}

/// The admin HTTP listener: `/metrics` (Prometheus) and `/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    /// `host:port`; empty disables the listener.
    pub listen: String,
}
impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: "127.0.0.1:9812".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub path: String,
    /// A PostgreSQL database shared by several nodes; empty = the SQLite file at `path`.
    pub url: String,
    pub pool_size: usize,
    pub timeout: String,
}
impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            path: "hybridauth-data/hybridauth.sqlite3".into(),
            url: String::new(),
            pool_size: 16,
            timeout: "2s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClock {
    pub mode: String,
    pub start: String,
}
impl Default for RawClock {
    fn default() -> Self {
        RawClock {
            mode: "system".into(),
            start: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDirectory {
    pub base_dn: String,
    pub netbios_name: String,
    pub upn_suffix: String,
    pub users_container: String,
}
impl Default for RawDirectory {
    fn default() -> Self {
        RawDirectory {
            base_dn: "DC=contoso,DC=com".into(),
            netbios_name: "CONTOSO".into(),
            upn_suffix: "contoso.com".into(),
            users_container: "CN=Users".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
    pub max_wait: String,
    pub cache_ttl: String,
    pub cache_entries: u64,
    pub store_nt_hash: bool,
}
impl Default for RawHashing {
    fn default() -> Self {
        RawHashing {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_wait: "2s".into(),
            cache_ttl: "5m".into(),
            cache_entries: 100_000,
            store_nt_hash: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawSigninLog {
    pub onprem: String,
    pub cloud: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogging {
    pub level: String,
    pub format: String,
}
impl Default for RawLogging {
    fn default() -> Self {
        RawLogging {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRadius {
    pub listen: Vec<String>,
    pub accounting_listen: Vec<String>,
    pub duplicate_window: String,
    pub reject_delay: String,
    pub accounting_log: String,
    pub clients: Vec<RawRadiusClient>,
    pub policies: Vec<RawRadiusPolicy>,
    pub eap: RawEap,
    pub mfa: RawMfa,
    /// RADIUS over TLS (RFC 6614), port 2083 by convention.
    pub tls_listeners: Vec<RawStreamListener>,
    /// RADIUS over plain TCP (RFC 6613), opt-in.
    pub tcp_listeners: Vec<RawStreamListener>,
}

/// `[[radius.tls_listeners]]` and `[[radius.tcp_listeners]]`: RADIUS over a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStreamListener {
    pub listen: String,
    /// TLS only: the server's certificate chain and key, and the CA that signs client
    /// certificates.
    pub cert: String,
    pub key: String,
    pub ca: String,
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub idle_timeout: String,
    pub handshake_timeout: String,
    pub write_timeout: String,
}
impl Default for RawStreamListener {
    fn default() -> Self {
        RawStreamListener {
            listen: String::new(),
            cert: String::new(),
            key: String::new(),
            ca: String::new(),
            max_connections: 256,
            max_in_flight: 256,
            idle_timeout: "2m".into(),
            handshake_timeout: "10s".into(),
            write_timeout: "10s".into(),
        }
    }
}

/// `[radius.mfa]`: the NPS extension for Microsoft Entra MFA (docs/model.md §10).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMfa {
    pub extension: String,
    pub require_user_match: bool,
    pub override_number_matching_with_otp: bool,
    pub timeout: String,
    pub max_pending: usize,
}
impl Default for RawMfa {
    fn default() -> Self {
        RawMfa {
            extension: "off".into(),
            require_user_match: true,
            override_number_matching_with_otp: true,
            timeout: "3m".into(),
            max_pending: 10_000,
        }
    }
}

/// `[radius.eap]`: EAP-TTLS and PEAP for Wi-Fi (802.1X) and VPNs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEap {
    pub methods: Vec<String>,
    pub cert: String,
    pub key: String,
    pub fragment_size: usize,
    pub max_sessions: usize,
    pub session_timeout: String,
}
impl Default for RawEap {
    fn default() -> Self {
        RawEap {
            methods: vec![],
            cert: String::new(),
            key: String::new(),
            fragment_size: 1024,
            max_sessions: 4096,
            session_timeout: "30s".into(),
        }
    }
}

/// `[[radius.policies]]`: reply attributes for accepted users, by group (see
/// `authorization`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadiusPolicy {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default)]
    pub endpoint: String,
    pub reply: std::collections::BTreeMap<String, RawReplyValue>,
}

/// A reply value: text or a number (`Session-Timeout = 3600`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawReplyValue {
    Integer(i64),
    Text(String),
}
impl Default for RawRadius {
    fn default() -> Self {
        RawRadius {
            listen: vec!["127.0.0.1:1812".into(), "[::1]:1812".into()],
            accounting_listen: vec!["127.0.0.1:1813".into()],
            duplicate_window: "5s".into(),
            reject_delay: "1s".into(),
            accounting_log: String::new(),
            policies: vec![],
            eap: RawEap::default(),
            mfa: RawMfa::default(),
            tls_listeners: vec![],
            tcp_listeners: vec![],
            clients: vec![RawRadiusClient {
                name: "localhost".into(),
                network: "127.0.0.1/32".into(),
                secret: "testing123".into(),
                endpoint: "on-prem".into(),
                admin_actions: false,
                require_message_authenticator: true,
                reply_message: false,
                mfa: mfa_on(),
                tls_identity: String::new(),
            }],
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadiusClient {
    pub name: String,
    /// Required for a client matched by address; for a TLS client, optional (any source).
    #[serde(default)]
    pub network: String,
    /// Required for a client matched by address; a TLS client's is "radsec" (RFC 6614 §2.3).
    #[serde(default)]
    pub secret: String,
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    #[serde(default)]
    pub admin_actions: bool,
    #[serde(default = "yes")]
    pub require_message_authenticator: bool,
    #[serde(default)]
    pub reply_message: bool,
    /// `"off"`: this NAS stands for a second NPS without the MFA extension.
    #[serde(default = "mfa_on")]
    pub mfa: String,
    /// Set: a RADIUS over TLS client, matched by this name in its certificate (the subject's
    /// CN, or a DNS or URI subject alternative name) on the TLS listeners only.
    #[serde(default)]
    pub tls_identity: String,
}

fn mfa_on() -> String {
    "on".into()
}

impl std::fmt::Debug for RawRadiusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRadiusClient")
            .field("name", &self.name)
            .field("network", &self.network)
            .field("secret", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

fn default_endpoint() -> String {
    "on-prem".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLdap {
    pub listeners: Vec<RawLdapListener>,
    pub idle_timeout: String,
    pub write_timeout: String,
    pub reject_delay: String,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub max_buffered_bytes: usize,
    pub service_accounts: Vec<String>,
    pub search_groups: Vec<String>,
    pub anonymous_search: bool,
    pub max_search_time: String,
    pub max_concurrent_searches: usize,
    pub max_filter_terms: usize,
    pub max_filter_depth: usize,
    pub send_buffer_bytes: usize,
}
impl Default for RawLdap {
    fn default() -> Self {
        RawLdap {
            listeners: vec![RawLdapListener {
                address: "127.0.0.1:3389".into(),
                endpoint: "on-prem".into(),
                admin_actions: false,
                tls: "none".into(),
                cert: String::new(),
                key: String::new(),
                require_tls: None,
            }],
            idle_timeout: "5m".into(),
            write_timeout: "10s".into(),
            reject_delay: "0s".into(),
            max_connections: 1024,
            max_message_bytes: 1024 * 1024,
            max_buffered_bytes: 32 * 1024 * 1024,
            service_accounts: vec![],
            search_groups: vec![],
            anonymous_search: false,
            max_search_time: "30s".into(),
            max_concurrent_searches: 2,
            max_filter_terms: 1000,
            max_filter_depth: 16,
            send_buffer_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLdapListener {
    pub address: String,
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    #[serde(default)]
    pub admin_actions: bool,
    #[serde(default = "default_tls")]
    pub tls: String,
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub key: String,
    /// Default: true on StartTLS listeners, false elsewhere.
    #[serde(default)]
    pub require_tls: Option<bool>,
}
fn default_tls() -> String {
    "none".into()
}

// ---------------------------------------------------------------------------------------------
// Validated configuration.

#[derive(Clone)]
pub struct RadiusClientConfig {
    pub name: String,
    /// `None`: any source address (a TLS client without `network`).
    pub network: Option<IpNet>,
    pub secret: Vec<u8>,
    pub endpoint: Endpoint,
    pub require_message_authenticator: bool,
    pub reply_message: bool,
    /// Whether the MFA extension (when `[radius.mfa] extension = "nps"`) applies to this NAS.
    pub mfa: bool,
    /// `Some`: a RADIUS over TLS client, matched by certificate on the TLS listeners only.
    pub tls_identity: Option<String>,
}

impl std::fmt::Debug for RadiusClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusClientConfig")
            .field("name", &self.name)
            .field("network", &self.network)
            .field("secret", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct RadiusConfig {
    pub listen: Vec<SocketAddr>,
    pub accounting_listen: Vec<SocketAddr>,
    pub duplicate_window: Duration,
    /// Every Access-Reject waits this long before it is sent (zero: at once).
    pub reject_delay: Duration,
    pub accounting_log: PathBuf,
    pub clients: Vec<RadiusClientConfig>,
    pub policies: Vec<crate::authorization::Policy>,
    pub eap: EapConfig,
    pub mfa: crate::verify::mfa::MfaConfig,
    pub stream_listeners: Vec<StreamListenerConfig>,
}

/// A RADIUS over TCP (RFC 6613) or TLS (RFC 6614) listener.
#[derive(Debug, Clone)]
pub struct StreamListenerConfig {
    pub address: SocketAddr,
    /// `None`: plain TCP.
    pub tls: Option<StreamTlsFiles>,
    pub max_connections: usize,
    /// Requests read from one connection and not yet answered; beyond it the connection is
    /// not read until an answer goes out.
    pub max_in_flight: usize,
    pub idle_timeout: Duration,
    pub handshake_timeout: Duration,
    pub write_timeout: Duration,
}

impl StreamListenerConfig {
    pub fn transport(&self) -> &'static str {
        if self.tls.is_some() {
            "tls"
        } else {
            "tcp"
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA (PEM, one or more certificates) client certificates must chain to.
    pub ca: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EapMethod {
    Ttls,
    Peap,
}

impl EapMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            EapMethod::Ttls => "ttls",
            EapMethod::Peap => "peap",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EapConfig {
    /// In order of preference; empty: EAP is refused like any unsupported method.
    pub methods: Vec<EapMethod>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fragment_size: usize,
    pub max_sessions: usize,
    pub session_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Ldaps,
}

#[derive(Debug, Clone)]
pub struct LdapListenerConfig {
    pub address: SocketAddr,
    pub endpoint: Endpoint,
    pub tls: TlsMode,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// A simple bind before StartTLS is refused (strongerAuthRequired).
    pub require_tls: bool,
}

#[derive(Debug, Clone)]
pub struct LdapConfig {
    pub listeners: Vec<LdapListenerConfig>,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// A failed bind waits this long before its answer (zero, AD's behaviour: at once).
    pub reject_delay: Duration,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub max_buffered_bytes: usize,
    pub service_accounts: Vec<String>,
    pub search_groups: Vec<String>,
    pub anonymous_search: bool,
    /// A search stops with timeLimitExceeded after this, whatever the client asked (AD's
    /// MaxQueryDuration, shorter by default).
    pub max_search_time: Duration,
    /// Searches running at once (each on a search thread below sign-ins); more wait.
    pub max_concurrent_searches: usize,
    /// A filter with more terms, or nested deeper, is refused (adminLimitExceeded).
    pub max_filter_terms: usize,
    pub max_filter_depth: usize,
    /// SO_SNDBUF of each connection: how much of its replies a peer that does not read can
    /// leave in kernel memory.
    pub send_buffer_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file, and the data directory the logs default to (with `store.url` too).
    pub store_path: PathBuf,
    /// The store the daemon and the CLI open: the SQLite file, or a shared PostgreSQL.
    pub store: StoreBackend,
    pub clock_mode: ClockMode,
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    pub directory: DirectoryConfig,
    pub hashing: HashingConfig,
    pub signin_onprem: PathBuf,
    pub signin_cloud: PathBuf,
    pub log_level: String,
    /// One JSON object per line (log shippers) instead of text.
    pub log_json: bool,
    pub radius: RadiusConfig,
    pub ldap: LdapConfig,
    /// The admin HTTP listener (`/metrics`, `/healthz`); `None` when disabled.
    pub admin_listen: Option<SocketAddr>,
}

/// Where the configuration file comes from when `--config` is not given.
pub fn default_config_file() -> Option<PathBuf> {
    [
        PathBuf::from("conf/hybridauth.toml"),
        PathBuf::from("/etc/hybridauth/hybridauth.toml"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

impl Config {
    /// Loads defaults, then the file (explicit or default location), then the environment.
    /// The layers, in order: the embedded defaults, the file (`--config`, else the default
    /// locations), then `HYBRIDAUTH_SECTION__KEY` variables.
    pub fn figment(explicit: Option<&Path>) -> Result<Figment, ConfigError> {
        let file = match explicit {
            Some(p) if !p.is_file() => return Err(ConfigError::Missing(p.to_path_buf())),
            Some(p) => Some(p.to_path_buf()),
            None => default_config_file(),
        };
        let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(f) = &file {
            fig = fig.merge(Toml::file(f));
        }
        // Only SECTION__KEY names are configuration: HYBRIDAUTH_LOG (the tracing filter) and
        // other HYBRIDAUTH_* variables are not keys and must not be refused as unknown ones.
        Ok(fig.merge(
            Env::prefixed("HYBRIDAUTH_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        ))
    }

    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::validate(Config::load_raw(explicit)?)
    }

    /// The layered configuration before validation (for tools that derive one from it, as
    /// `scenario run` derives its private lab).
    pub fn load_raw(explicit: Option<&Path>) -> Result<RawConfig, ConfigError> {
        let fig = Config::figment(explicit)?;
        let raw: RawConfig = fig.extract().map_err(|e| {
            let mut msgs = Vec::new();
            for err in e {
                let key = err.path.join(".");
                let from = source_of(&err);
                if key.is_empty() {
                    msgs.push(format!("{}{from}", plain_backquotes(&err.kind.to_string())));
                } else if key.ends_with("secret") || key == "store.url" {
                    // The error would quote the value: a shared secret never reaches a message.
                    msgs.push(format!(
                        "key `{key}`{from}: expected a string (value not shown)"
                    ));
                } else {
                    msgs.push(format!(
                        "key `{key}`{from}: {}",
                        plain_backquotes(&err.kind.to_string())
                    ));
                }
            }
            ConfigError::Parse(msgs.join("; "))
        })?;
        Ok(raw)
    }

    pub fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.store.path.trim().is_empty() {
            return Err(invalid("store.path", "must not be empty"));
        }
        let store_path = PathBuf::from(&raw.store.path);
        let store = validate_store(&raw.store, &store_path)?;
        let clock_mode = match raw.clock.mode.as_str() {
            "system" => ClockMode::System,
            "simulated" => ClockMode::Simulated,
            other => {
                return Err(invalid(
                    "clock.mode",
                    format!("expected \"system\" or \"simulated\", got {other:?}"),
                ))
            }
        };
        let clock_start = if raw.clock.start.trim().is_empty() {
            None
        } else {
            Some(parse_time(&raw.clock.start).map_err(|e| invalid("clock.start", e.to_string()))?)
        };
        let directory = validate_directory(&raw.directory)?;
        let h = &raw.hashing;
        if !(8..=4 * 1024 * 1024).contains(&h.memory_kib) {
            return Err(invalid("hashing.memory_kib", "expected 8 to 4194304 (KiB)"));
        }
        if !(1..=64).contains(&h.iterations) {
            return Err(invalid("hashing.iterations", "expected 1 to 64"));
        }
        if !(1..=16).contains(&h.parallelism) {
            return Err(invalid("hashing.parallelism", "expected 1 to 16"));
        }
        if h.memory_kib < 8 * h.parallelism {
            return Err(invalid(
                "hashing.memory_kib",
                "must be at least 8 x hashing.parallelism",
            ));
        }
        let max_concurrent = if h.max_concurrent == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            h.max_concurrent
        };
        let max_wait = parse_duration(&h.max_wait).map_err(|e| invalid("hashing.max_wait", e))?;
        if max_wait.is_zero() || max_wait > Duration::from_secs(60) {
            return Err(invalid(
                "hashing.max_wait",
                "expected more than 0 and at most 60s",
            ));
        }
        let cache_ttl =
            parse_duration(&h.cache_ttl).map_err(|e| invalid("hashing.cache_ttl", e))?;
        if cache_ttl > Duration::from_secs(24 * 3600) {
            return Err(invalid(
                "hashing.cache_ttl",
                "at most 24h (0s disables the cache)",
            ));
        }
        if !(1..=10_000_000).contains(&h.cache_entries) {
            return Err(invalid("hashing.cache_entries", "expected 1 to 10000000"));
        }
        let hashing = HashingConfig {
            memory_kib: h.memory_kib,
            iterations: h.iterations,
            parallelism: h.parallelism,
            max_concurrent,
            max_wait,
            cache_ttl,
            cache_entries: h.cache_entries,
            store_nt_hash: h.store_nt_hash,
        };
        let data_dir = store_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let pick = |v: &str, default: &str| {
            if v.trim().is_empty() {
                data_dir.join(default)
            } else {
                PathBuf::from(v)
            }
        };
        let signin_onprem = pick(&raw.signin_log.onprem, "signin-onprem.jsonl");
        let signin_cloud = pick(&raw.signin_log.cloud, "signin-cloud.jsonl");
        let accounting_log = pick(&raw.radius.accounting_log, "accounting.jsonl");
        match raw.logging.level.as_str() {
            "error" | "warn" | "info" | "debug" | "trace" => {}
            other => {
                return Err(invalid(
                    "logging.level",
                    format!("expected error, warn, info, debug or trace, got {other:?}"),
                ))
            }
        }
        let log_json = match raw.logging.format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(invalid(
                    "logging.format",
                    format!("expected \"text\" or \"json\", got {other:?}"),
                ))
            }
        };
        let radius = validate_radius(&raw.radius, accounting_log)?;
        let ldap = validate_ldap(&raw.ldap)?;
        let admin_listen = match raw.admin.listen.trim() {
            "" => None,
            a => Some(a.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "admin.listen",
                    format!(
                        "expected host:port (e.g. 127.0.0.1:9812) or empty to disable, got {a:?}"
                    ),
                )
            })?),
        };
        Ok(Config {
            store_path,
            store,
            clock_mode,
            clock_start,
            directory,
            hashing,
            signin_onprem,
            signin_cloud,
            log_level: raw.logging.level.clone(),
            log_json,
            radius,
            ldap,
            admin_listen,
        })
    }
}

fn validate_store(s: &RawStore, path: &Path) -> Result<StoreBackend, ConfigError> {
    if s.url.trim().is_empty() {
        return Ok(StoreBackend::Sqlite(path.to_path_buf()));
    }
    if !(1..=1000).contains(&s.pool_size) {
        return Err(invalid("store.pool_size", "expected 1 to 1000"));
    }
    let timeout = parse_duration(&s.timeout).map_err(|e| invalid("store.timeout", e))?;
    if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(60) {
        return Err(invalid("store.timeout", "expected 100ms to 60s"));
    }
    PostgresTarget::parse(&s.url, s.pool_size, timeout)
        .map(|t| StoreBackend::Postgres(Box::new(t)))
        .map_err(|e| invalid("store.url", e))
}

fn validate_directory(d: &RawDirectory) -> Result<DirectoryConfig, ConfigError> {
    let dn_ok = |s: &str| {
        !s.is_empty()
            && s.split(',').all(|rdn| {
                rdn.split_once('=')
                    .is_some_and(|(a, v)| !a.trim().is_empty() && !v.trim().is_empty())
            })
    };
    if !dn_ok(&d.base_dn) {
        return Err(invalid(
            "directory.base_dn",
            format!(
                "expected a DN such as DC=contoso,DC=com, got {:?}",
                d.base_dn
            ),
        ));
    }
    if !dn_ok(&d.users_container) {
        return Err(invalid(
            "directory.users_container",
            format!(
                "expected an RDN path such as CN=Users, got {:?}",
                d.users_container
            ),
        ));
    }
    if d.netbios_name.is_empty()
        || d.netbios_name.len() > 15
        || !d
            .netbios_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(invalid(
            "directory.netbios_name",
            "expected 1 to 15 letters, digits or hyphens (e.g. CONTOSO)",
        ));
    }
    if d.upn_suffix.is_empty() || !d.upn_suffix.contains('.') || d.upn_suffix.contains('@') {
        return Err(invalid(
            "directory.upn_suffix",
            "expected a DNS domain such as contoso.com",
        ));
    }
    Ok(DirectoryConfig {
        base_dn: d.base_dn.trim().to_string(),
        netbios_name: d.netbios_name.to_ascii_uppercase(),
        upn_suffix: d.upn_suffix.to_ascii_lowercase(),
        users_container: d.users_container.trim().to_string(),
    })
}

fn parse_endpoint(key: &str, kind: &str, admin_actions: bool) -> Result<Endpoint, ConfigError> {
    let kind = EndpointKind::parse(kind).ok_or_else(|| {
        invalid(
            key,
            format!("expected \"on-prem\", \"cloud\" or \"hybrid\", got {kind:?}"),
        )
    })?;
    Ok(Endpoint {
        kind,
        admin_actions,
    })
}

fn parse_addrs(key: &str, v: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    v.iter()
        .map(|s| {
            s.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    key,
                    format!("expected an address with port such as 127.0.0.1:1812 or [::1]:1812, got {s:?}"),
                )
            })
        })
        .collect()
}

fn validate_radius(r: &RawRadius, accounting_log: PathBuf) -> Result<RadiusConfig, ConfigError> {
    let listen = parse_addrs("radius.listen", &r.listen)?;
    let accounting_listen = parse_addrs("radius.accounting_listen", &r.accounting_listen)?;
    let duplicate_window =
        parse_duration(&r.duplicate_window).map_err(|e| invalid("radius.duplicate_window", e))?;
    let reject_delay =
        parse_duration(&r.reject_delay).map_err(|e| invalid("radius.reject_delay", e))?;
    if reject_delay > Duration::from_secs(10) {
        return Err(invalid(
            "radius.reject_delay",
            "at most 10s (0s turns it off)",
        ));
    }
    if duplicate_window > Duration::from_secs(300) {
        return Err(invalid("radius.duplicate_window", "at most 5m"));
    }
    let mut clients = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, c) in r.clients.iter().enumerate() {
        let key = |k: &str| format!("radius.clients[{i}].{k}");
        if c.name.trim().is_empty() {
            return Err(invalid(&key("name"), "must not be empty"));
        }
        if !names.insert(c.name.clone()) {
            return Err(invalid(
                &key("name"),
                format!("duplicate client name {:?}", c.name),
            ));
        }
        let tls_identity = Some(c.tls_identity.trim().to_string()).filter(|t| !t.is_empty());
        let network = match c.network.trim() {
            // A TLS client is known by its certificate; its network only narrows it.
            "" if tls_identity.is_some() => None,
            "" => {
                return Err(invalid(
                    &key("network"),
                    "must be set (a CIDR network such as 192.0.2.0/24), or tls_identity for a RADIUS over TLS client",
                ))
            }
            n => Some(parse_network(&key("network"), n)?),
        };
        let secret = match (&tls_identity, c.secret.as_str()) {
            // RFC 6614 §2.3: over TLS the shared secret is "radsec"; another one may be set.
            (Some(_), "") => "radsec".to_string(),
            (None, "") => return Err(invalid(&key("secret"), "must not be empty")),
            (_, s) => s.to_string(),
        };
        if secret.len() > 128 {
            return Err(invalid(&key("secret"), "at most 128 octets"));
        }
        let endpoint = parse_endpoint(&key("endpoint"), &c.endpoint, c.admin_actions)?;
        let mfa = match c.mfa.as_str() {
            "on" => true,
            "off" => false,
            other => {
                return Err(invalid(
                    &key("mfa"),
                    format!("expected \"on\" or \"off\", got {other:?}"),
                ))
            }
        };
        clients.push(RadiusClientConfig {
            name: c.name.clone(),
            network,
            secret: secret.into_bytes(),
            endpoint,
            require_message_authenticator: c.require_message_authenticator,
            reply_message: c.reply_message,
            mfa,
            tls_identity,
        });
    }
    let stream_listeners = validate_stream_listeners(r)?;
    let policies = validate_policies(&r.policies, &clients)?;
    let eap = validate_eap(&r.eap)?;
    let mfa = validate_mfa(&r.mfa)?;
    Ok(RadiusConfig {
        listen,
        accounting_listen,
        duplicate_window,
        reject_delay,
        accounting_log,
        clients,
        policies,
        eap,
        mfa,
        stream_listeners,
    })
}

fn parse_network(key: &str, n: &str) -> Result<IpNet, ConfigError> {
    n.parse::<IpNet>()
        .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| {
            invalid(
                key,
                format!("expected a CIDR network such as 192.0.2.0/24 or ::1/128, got {n:?}"),
            )
        })
}

/// `[[radius.tls_listeners]]` then `[[radius.tcp_listeners]]`.
fn validate_stream_listeners(r: &RawRadius) -> Result<Vec<StreamListenerConfig>, ConfigError> {
    let mut out = Vec::new();
    for (kind, list) in [
        ("tls_listeners", &r.tls_listeners),
        ("tcp_listeners", &r.tcp_listeners),
    ] {
        for (i, l) in list.iter().enumerate() {
            let key = |k: &str| format!("radius.{kind}[{i}].{k}");
            // RFC 6614 §2.1 gives RADIUS over TLS port 2083; RFC 6613 keeps 1812 for TCP.
            let listen = match (l.listen.trim(), kind) {
                ("", "tls_listeners") => "0.0.0.0:2083",
                ("", _) => "0.0.0.0:1812",
                (a, _) => a,
            };
            let address = listen.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    &key("listen"),
                    format!(
                        "expected an address and port such as 0.0.0.0:2083, got {:?}",
                        l.listen
                    ),
                )
            })?;
            let path = |k: &str, v: &str| -> Result<PathBuf, ConfigError> {
                match v.trim() {
                    "" => Err(invalid(
                        &key(k),
                        "RADIUS over TLS needs cert, key and ca (`hybridauth cert --radsec` writes a lab set)",
                    )),
                    p => Ok(PathBuf::from(p)),
                }
            };
            let tls = if kind == "tls_listeners" {
                Some(StreamTlsFiles {
                    cert: path("cert", &l.cert)?,
                    key: path("key", &l.key)?,
                    ca: path("ca", &l.ca)?,
                })
            } else {
                for (k, v) in [("cert", &l.cert), ("key", &l.key), ("ca", &l.ca)] {
                    if !v.trim().is_empty() {
                        return Err(invalid(
                            &key(k),
                            "plain TCP has no certificates (use radius.tls_listeners for TLS)",
                        ));
                    }
                }
                None
            };
            if !(1..=100_000).contains(&l.max_connections) {
                return Err(invalid(&key("max_connections"), "expected 1 to 100000"));
            }
            // RADIUS identifiers are per connection: a client cannot have more than 256 open.
            if !(1..=256).contains(&l.max_in_flight) {
                return Err(invalid(&key("max_in_flight"), "expected 1 to 256"));
            }
            let duration =
                |k: &str, v: &str, min: u64, max: u64| -> Result<Duration, ConfigError> {
                    let d = parse_duration(v).map_err(|e| invalid(&key(k), e))?;
                    if d < Duration::from_secs(min) || d > Duration::from_secs(max) {
                        return Err(invalid(
                            &key(k),
                            format!(
                                "expected {} to {}",
                                crate::time::format_duration(Duration::from_secs(min)),
                                crate::time::format_duration(Duration::from_secs(max))
                            ),
                        ));
                    }
                    Ok(d)
                };
            out.push(StreamListenerConfig {
                address,
                tls,
                max_connections: l.max_connections,
                max_in_flight: l.max_in_flight,
                idle_timeout: duration("idle_timeout", &l.idle_timeout, 1, 86_400)?,
                handshake_timeout: duration("handshake_timeout", &l.handshake_timeout, 1, 120)?,
                write_timeout: duration("write_timeout", &l.write_timeout, 1, 300)?,
            });
        }
    }
    Ok(out)
}

fn validate_mfa(m: &RawMfa) -> Result<crate::verify::mfa::MfaConfig, ConfigError> {
    let enabled = match m.extension.as_str() {
        "off" => false,
        "nps" => true,
        other => {
            return Err(invalid(
                "radius.mfa.extension",
                format!("expected \"off\" or \"nps\", got {other:?}"),
            ))
        }
    };
    let timeout = parse_duration(&m.timeout).map_err(|e| invalid("radius.mfa.timeout", e))?;
    if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(600) {
        return Err(invalid("radius.mfa.timeout", "expected 1s to 10m"));
    }
    if !(1..=1_000_000).contains(&m.max_pending) {
        return Err(invalid("radius.mfa.max_pending", "expected 1 to 1000000"));
    }
    Ok(crate::verify::mfa::MfaConfig {
        enabled,
        require_user_match: m.require_user_match,
        override_number_matching_with_otp: m.override_number_matching_with_otp,
        timeout,
        max_pending: m.max_pending,
    })
}

fn validate_eap(e: &RawEap) -> Result<EapConfig, ConfigError> {
    let mut methods = Vec::new();
    for m in &e.methods {
        let method = match m.trim().to_ascii_lowercase().as_str() {
            "ttls" => EapMethod::Ttls,
            "peap" => EapMethod::Peap,
            other => {
                return Err(invalid(
                    "radius.eap.methods",
                    format!("expected \"ttls\" or \"peap\", got {other:?}"),
                ))
            }
        };
        if methods.contains(&method) {
            return Err(invalid(
                "radius.eap.methods",
                format!("{m:?} is listed twice"),
            ));
        }
        methods.push(method);
    }
    if !methods.is_empty() && (e.cert.trim().is_empty() || e.key.trim().is_empty()) {
        return Err(invalid(
            "radius.eap.cert",
            "EAP methods need a certificate and key (`hybridauth cert` writes a lab pair)",
        ));
    }
    if !(100..=3000).contains(&e.fragment_size) {
        return Err(invalid(
            "radius.eap.fragment_size",
            "expected 100 to 3000 octets (1024 suits most access points)",
        ));
    }
    if !(1..=1_000_000).contains(&e.max_sessions) {
        return Err(invalid("radius.eap.max_sessions", "expected 1 to 1000000"));
    }
    let session_timeout = parse_duration(&e.session_timeout)
        .map_err(|err| invalid("radius.eap.session_timeout", err))?;
    if session_timeout.is_zero() || session_timeout > Duration::from_secs(600) {
        return Err(invalid(
            "radius.eap.session_timeout",
            "expected more than 0 and at most 10m",
        ));
    }
    Ok(EapConfig {
        methods,
        cert: PathBuf::from(e.cert.trim()),
        key: PathBuf::from(e.key.trim()),
        fragment_size: e.fragment_size,
        max_sessions: e.max_sessions,
        session_timeout,
    })
}

fn validate_policies(
    raw: &[RawRadiusPolicy],
    clients: &[RadiusClientConfig],
) -> Result<Vec<crate::authorization::Policy>, ConfigError> {
    use crate::protocol::radius_dictionary::{encode, Value};
    let mut out: Vec<crate::authorization::Policy> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let key = |k: &str| format!("radius.policies[{i}].{k}");
        if p.name.trim().is_empty() {
            return Err(invalid(&key("name"), "must not be empty"));
        }
        if out.iter().any(|o| o.name == p.name) {
            return Err(invalid(
                &key("name"),
                format!("duplicate policy name {:?}", p.name),
            ));
        }
        if p.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(invalid(&key("groups"), "a group name must not be empty"));
        }
        for c in &p.clients {
            if !clients.iter().any(|k| &k.name == c) {
                return Err(invalid(
                    &key("clients"),
                    format!("no [[radius.clients]] is named {c:?}"),
                ));
            }
        }
        let endpoint = match p.endpoint.trim() {
            "" => None,
            e => Some(EndpointKind::parse(e).ok_or_else(|| {
                invalid(
                    &key("endpoint"),
                    format!("expected on-prem, cloud or hybrid, got {e:?}"),
                )
            })?),
        };
        if p.reply.is_empty() {
            return Err(invalid(&key("reply"), "sets no attribute"));
        }
        let mut reply: Vec<crate::authorization::ReplyAttribute> = Vec::new();
        for (name, v) in &p.reply {
            let value = match v {
                RawReplyValue::Integer(n) => Value::Integer(*n),
                RawReplyValue::Text(s) => Value::Text(s.clone()),
            };
            let (canonical, wire) =
                encode(name, &value).map_err(|e| invalid(&key(&format!("reply.{name}")), e))?;
            if reply.iter().any(|a| a.name == canonical) {
                return Err(invalid(
                    &key(&format!("reply.{name}")),
                    format!("{canonical} is set twice"),
                ));
            }
            reply.push(crate::authorization::ReplyAttribute {
                name: canonical,
                value,
                wire,
            });
        }
        out.push(crate::authorization::Policy {
            name: p.name.clone(),
            groups: p.groups.iter().map(|g| g.trim().to_lowercase()).collect(),
            clients: p.clients.clone(),
            endpoint,
            reply,
        });
    }
    Ok(out)
}

fn validate_ldap(l: &RawLdap) -> Result<LdapConfig, ConfigError> {
    let mut listeners = Vec::new();
    for (i, li) in l.listeners.iter().enumerate() {
        let key = |k: &str| format!("ldap.listeners[{i}].{k}");
        let address = li.address.parse::<SocketAddr>().map_err(|_| {
            invalid(
                &key("address"),
                format!(
                    "expected an address with port such as 127.0.0.1:3389, got {:?}",
                    li.address
                ),
            )
        })?;
        let endpoint = parse_endpoint(&key("endpoint"), &li.endpoint, li.admin_actions)?;
        let tls = match li.tls.as_str() {
            "none" => TlsMode::None,
            "starttls" => TlsMode::StartTls,
            "ldaps" => TlsMode::Ldaps,
            other => {
                return Err(invalid(
                    &key("tls"),
                    format!("expected \"none\", \"starttls\" or \"ldaps\", got {other:?}"),
                ))
            }
        };
        let opt = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s));
        let (cert, key_path) = (opt(&li.cert), opt(&li.key));
        if tls != TlsMode::None && (cert.is_none() || key_path.is_none()) {
            return Err(invalid(
                &key("cert"),
                "tls = starttls or ldaps needs both cert and key (hybridauth cert writes a lab pair)",
            ));
        }
        let require_tls = match (tls, li.require_tls) {
            (TlsMode::None, Some(true)) => {
                return Err(invalid(
                    &key("require_tls"),
                    "a listener with tls = \"none\" cannot require TLS; use tls = \"starttls\"",
                ))
            }
            (TlsMode::StartTls, None) => true,
            (_, v) => v.unwrap_or(false),
        };
        listeners.push(LdapListenerConfig {
            address,
            endpoint,
            tls,
            cert,
            key: key_path,
            require_tls,
        });
    }
    let idle_timeout =
        parse_duration(&l.idle_timeout).map_err(|e| invalid("ldap.idle_timeout", e))?;
    if idle_timeout.is_zero() {
        return Err(invalid("ldap.idle_timeout", "must be more than 0"));
    }
    let write_timeout =
        parse_duration(&l.write_timeout).map_err(|e| invalid("ldap.write_timeout", e))?;
    if write_timeout.is_zero() {
        return Err(invalid("ldap.write_timeout", "must be more than 0"));
    }
    let reject_delay =
        parse_duration(&l.reject_delay).map_err(|e| invalid("ldap.reject_delay", e))?;
    if reject_delay > Duration::from_secs(10) {
        return Err(invalid(
            "ldap.reject_delay",
            "at most 10s (0s: answer at once, as AD)",
        ));
    }
    if l.max_connections == 0 || l.max_connections > 1_000_000 {
        return Err(invalid("ldap.max_connections", "expected 1 to 1000000"));
    }
    if !(1024..=64 * 1024 * 1024).contains(&l.max_message_bytes) {
        return Err(invalid(
            "ldap.max_message_bytes",
            "expected 1024 to 67108864",
        ));
    }
    if l.max_buffered_bytes < l.max_message_bytes || l.max_buffered_bytes > 4 << 30 {
        return Err(invalid(
            "ldap.max_buffered_bytes",
            "expected at least ldap.max_message_bytes and at most 4 GiB",
        ));
    }
    let max_search_time =
        parse_duration(&l.max_search_time).map_err(|e| invalid("ldap.max_search_time", e))?;
    if max_search_time.is_zero() || max_search_time > Duration::from_secs(3600) {
        return Err(invalid(
            "ldap.max_search_time",
            "expected more than 0s and at most 1h",
        ));
    }
    if !(1..=64).contains(&l.max_concurrent_searches) {
        return Err(invalid("ldap.max_concurrent_searches", "expected 1 to 64"));
    }
    if !(1..=100_000).contains(&l.max_filter_terms) {
        return Err(invalid("ldap.max_filter_terms", "expected 1 to 100000"));
    }
    if !(1..=24).contains(&l.max_filter_depth) {
        return Err(invalid(
            "ldap.max_filter_depth",
            "expected 1 to 24 (the BER decoder refuses messages nested deeper than 32 levels)",
        ));
    }
    if !(16 * 1024..=64 * 1024 * 1024).contains(&l.send_buffer_bytes) {
        return Err(invalid(
            "ldap.send_buffer_bytes",
            "expected 16384 to 67108864",
        ));
    }
    Ok(LdapConfig {
        listeners,
        idle_timeout,
        write_timeout,
        reject_delay,
        max_connections: l.max_connections,
        max_message_bytes: l.max_message_bytes,
        max_buffered_bytes: l.max_buffered_bytes,
        service_accounts: l.service_accounts.clone(),
        search_groups: l.search_groups.clone(),
        anonymous_search: l.anonymous_search,
        max_search_time,
        max_concurrent_searches: l.max_concurrent_searches,
        max_filter_terms: l.max_filter_terms,
        max_filter_depth: l.max_filter_depth,
        send_buffer_bytes: l.send_buffer_bytes,
    })
}

/// Where a configuration value came from, for messages: ` (in FILE)` or ` (from environment
/// variable NAME)`; empty for the built-in defaults.
pub fn source_of(err: &figment::Error) -> String {
    let Some(md) = &err.metadata else {
        return String::new();
    };
    match &md.source {
        Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
        _ if md.name.contains("environment") => {
            // The variable itself: for an unknown section the path is only its first part.
            let stem = format!("HYBRIDAUTH_{}", err.path.join("__").to_uppercase());
            let var = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .find(|k| *k == stem || k.starts_with(&format!("{stem}__")))
                .unwrap_or(stem);
            format!(" (from environment variable {var})")
        }
        _ => String::new(),
    }
}

/// serde's "expected `one of `a`, `b``": nested backquotes made plain.
pub fn plain_backquotes(msg: &str) -> String {
    msg.replace("expected `one of ", "expected one of ")
        .replace("``", "`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = Config::validate(RawConfig::default()).expect("defaults are valid");
        assert_eq!(c.clock_mode, ClockMode::System);
        assert_eq!(c.directory.netbios_name, "CONTOSO");
    }

    #[test]
    fn invalid_clock_mode_names_the_key() {
        let mut raw = RawConfig::default();
        raw.clock.mode = "fast".into();
        let e = Config::validate(raw).unwrap_err().to_string();
        assert!(e.contains("clock.mode"), "{e}");
    }

    #[test]
    fn invalid_client_network_names_the_key() {
        let mut raw = RawConfig::default();
        raw.radius.clients[0].network = "nonsense".into();
        let e = Config::validate(raw).unwrap_err().to_string();
        assert!(e.contains("radius.clients[0].network"), "{e}");
    }

    fn tls_listener(raw: &mut RawConfig) {
        raw.radius.tls_listeners.push(RawStreamListener {
            listen: "127.0.0.1:2083".into(),
            cert: "s.pem".into(),
            key: "s-key.pem".into(),
            ca: "ca.pem".into(),
            ..Default::default()
        });
    }

    #[test]
    fn a_tls_client_needs_no_network_nor_secret_and_its_secret_is_radsec() {
        let mut raw = RawConfig::default();
        tls_listener(&mut raw);
        let mut c = raw.radius.clients[0].clone();
        c.name = "nas1".into();
        c.network = String::new();
        c.secret = String::new();
        c.tls_identity = "nas1.lab".into();
        raw.radius.clients.push(c);
        let cfg = Config::validate(raw).unwrap();
        let nas = &cfg.radius.clients[1];
        assert_eq!(
            (nas.network, nas.secret.as_slice()),
            (None, b"radsec".as_slice())
        );
        assert_eq!(nas.tls_identity.as_deref(), Some("nas1.lab"));
        let l = &cfg.radius.stream_listeners[0];
        assert_eq!(
            (l.transport(), l.max_connections, l.max_in_flight),
            ("tls", 256, 256)
        );
        assert_eq!(l.idle_timeout, Duration::from_secs(120));
    }

    #[test]
    fn stream_listener_mistakes_name_their_key() {
        let check = |change: fn(&mut RawConfig), key: &str, says: &str| {
            let mut raw = RawConfig::default();
            change(&mut raw);
            let e = Config::validate(raw).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(says), "{e}");
        };
        check(
            |r| r.radius.clients[0].network = String::new(),
            "radius.clients[0].network",
            "tls_identity",
        );
        check(
            |r| {
                tls_listener(r);
                r.radius.tls_listeners[0].ca = String::new();
            },
            "radius.tls_listeners[0].ca",
            "hybridauth cert --radsec",
        );
        check(
            |r| {
                tls_listener(r);
                r.radius.tcp_listeners = r.radius.tls_listeners.clone();
                r.radius.tls_listeners.clear();
            },
            "radius.tcp_listeners[0].cert",
            "plain TCP has no certificates",
        );
        check(
            |r| {
                tls_listener(r);
                r.radius.tls_listeners[0].max_in_flight = 257;
            },
            "radius.tls_listeners[0].max_in_flight",
            "1 to 256",
        );
        check(
            |r| {
                tls_listener(r);
                r.radius.tls_listeners[0].listen = "2083".into();
            },
            "radius.tls_listeners[0].listen",
            "address and port",
        );
        check(
            |r| {
                tls_listener(r);
                r.radius.tls_listeners[0].handshake_timeout = "10m".into();
            },
            "radius.tls_listeners[0].handshake_timeout",
            "expected 1s to 2m",
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn environment_overrides_and_non_key_variables_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HYBRIDAUTH_CLOCK__MODE", "simulated");
            jail.set_env("HYBRIDAUTH_LOG", "debug");
            jail.set_env("HYBRIDAUTH_BIN", "/somewhere");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.clock_mode, ClockMode::Simulated);
            jail.set_env("HYBRIDAUTH_CLOCK__MODE", "warp");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("clock.mode"), "{e}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_badly_typed_secret_is_not_quoted() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "h.toml",
                "[[radius.clients]]\nname = \"x\"\nnetwork = \"127.0.0.1/32\"\nsecret = 987654321\n",
            )?;
            let e = Config::load(Some(Path::new("h.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("radius.clients.0.secret"), "{e}");
            assert!(!e.contains("987654321"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("3h").unwrap(), Duration::from_secs(10800));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn require_tls_defaults_to_true_on_starttls_listeners_only() {
        let mut raw = RawConfig::default();
        let mut l = raw.ldap.listeners[0].clone();
        l.tls = "starttls".into();
        l.cert = "c.pem".into();
        l.key = "k.pem".into();
        let mut ldaps = l.clone();
        ldaps.tls = "ldaps".into();
        let mut lax = l.clone();
        lax.require_tls = Some(false);
        raw.ldap.listeners = vec![raw.ldap.listeners[0].clone(), l, ldaps, lax];
        let c = Config::validate(raw).unwrap();
        let req: Vec<bool> = c.ldap.listeners.iter().map(|l| l.require_tls).collect();
        assert_eq!(req, [false, true, false, false]);
        assert_eq!(c.ldap.write_timeout, Duration::from_secs(10));
        assert_eq!(c.ldap.max_buffered_bytes, 32 * 1024 * 1024);
    }
}
