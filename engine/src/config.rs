//! Configuration shared by `switchboard serve` and the desktop shell: where data lives, where
//! the two listeners bind, the public URL carriers see, and how the control token and the
//! keyring are found. Every option has a flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::domain::SharedClock;

pub const DEFAULT_CONTROL_ADDR: &str = "127.0.0.1:7720";
pub const DEFAULT_PUBLIC_ADDR: &str = "127.0.0.1:7721";
/// The OS keyring service secrets are kept under.
pub const DEFAULT_KEYRING_SERVICE: &str = "switchboard";
pub const DEFAULT_TELNYX_API_URL: &str = "https://api.telnyx.com/v2";
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com/2010-04-01";
pub const DEFAULT_TWILIO_NUMBERS_URL: &str = "https://numbers.twilio.com/v2";
pub const DEFAULT_RETELL_API_URL: &str = "https://api.retellai.com";
pub const DEFAULT_OPENAI_REALTIME_URL: &str = "wss://api.openai.com/v1/realtime";
/// One minute: webhook retries then span about 18 hours (`domain::webhook::retry_wait_ms`).
pub const DEFAULT_WEBHOOK_RETRY_BASE_MS: u64 = 60_000;
/// OpenAI's REST API (post-call analysis: `{base}/chat/completions`).
pub const DEFAULT_OPENAI_API_URL: &str = "https://api.openai.com/v1";
/// The first retry of a failed post-call analysis waits this long; each next one twice as long.
pub const DEFAULT_ANALYSIS_RETRY_BASE_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "the control listener must bind to a loopback address (127.0.0.1 or ::1), not {0}: it holds the keys to every agent and number"
    )]
    ControlNotLoopback(SocketAddr),
    #[error("the public webhook base URL {0}")]
    PublicUrl(#[from] BadPublicUrl),
    #[error(
        "no data directory: pass --data-dir or set SWITCHBOARD_DATA_DIR (this system reports no home directory)"
    )]
    NoDataDir,
    #[error(
        "the database URL must be a PostgreSQL one, postgres://user@host:port/database (leave it out for the embedded SQLite database)"
    )]
    DatabaseUrl,
    #[error(
        "--allow-origin {0:?} is not a web origin: give scheme, host and port only, such as http://localhost:5173 or https://switchboard.example.com"
    )]
    AllowOrigin(String),
}

/// The public listener's limits (see `public`'s doc); `serve` flags set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicLimits {
    /// Sockets open at once, media WebSockets included.
    pub sockets: usize,
    /// Requests a second from one address (and twice as many at once).
    pub per_address: u32,
    /// Refused requests a second from one address before it is shut out (and five times as
    /// many at once).
    pub refusals_per_address: u32,
}

impl Default for PublicLimits {
    fn default() -> Self {
        Self {
            sockets: 4096,
            per_address: 3000,
            refusals_per_address: 20,
        }
    }
}

#[derive(Clone, Args)]
pub struct Config {
    /// Where the database and local files live [default: the OS's data directory].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in this PostgreSQL database instead of the embedded SQLite file in the
    /// data directory: `postgres://user[:password]@host[:port]/database`. Several `serve`
    /// nodes given the same database share the work (docs/CLUSTER.md).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A schema of its own inside that database, made if missing [default: the database
    /// user's search path].
    #[arg(long, env = "SWITCHBOARD_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,

    /// Control API (REST + events) address; loopback only. Port 0 picks a free port.
    #[arg(long, env = "SWITCHBOARD_CONTROL_ADDR", default_value = DEFAULT_CONTROL_ADDR)]
    pub control_addr: SocketAddr,

    /// Public listener (carrier webhooks and media) address. Port 0 picks a free port.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_ADDR", default_value = DEFAULT_PUBLIC_ADDR)]
    pub public_addr: SocketAddr,

    /// The public base URL carriers reach the public listener at (e.g. your tunnel's
    /// https://… address). Overrides the value saved in Settings.
    #[arg(long, env = "WEBHOOK_BASE_URL")]
    pub public_url: Option<String>,

    /// This node's own public base URL, when several nodes share `--public-url` behind a load
    /// balancer: a call's media stream must reach the node that answered or placed it, so
    /// the carriers are given this one for media (docs/CLUSTER.md).
    #[arg(long, env = "SWITCHBOARD_NODE_URL")]
    pub node_url: Option<String>,

    /// Fixes the control API token instead of the generated one kept in the keyring.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The OS keyring service name under which secrets are kept.
    #[arg(long, env = "SWITCHBOARD_KEYRING_SERVICE", default_value = DEFAULT_KEYRING_SERVICE)]
    pub keyring_service: String,

    /// Do not use the OS keyring (servers): credentials come from environment variables and
    /// the control token from a file in the data directory.
    #[arg(long, env = "SWITCHBOARD_NO_KEYRING", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_keyring: bool,

    /// Keep credentials and secrets in an owner-only file (`secrets.json`) in the data
    /// directory instead of the OS keyring (servers, which have none); the control token keeps
    /// its own file there. Wins over `--no-keyring`.
    #[arg(long, env = "SWITCHBOARD_SECRETS_FILE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub secrets_file: bool,

    /// Accept carrier webhooks without checking their signatures. Development only: anyone
    /// who can reach the public listener could then fake calls. Logged loudly.
    #[arg(long, env = "SWITCHBOARD_INSECURE_SKIP_WEBHOOK_SIGNATURES", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_skip_webhook_signatures: bool,

    /// Telnyx Call Control API base URL (tests and proxies point it elsewhere).
    #[arg(long, env = "TELNYX_API_URL", default_value = DEFAULT_TELNYX_API_URL)]
    pub telnyx_api_url: String,

    /// Twilio REST API base URL (tests and proxies point it elsewhere).
    #[arg(long, env = "TWILIO_API_URL", default_value = DEFAULT_TWILIO_API_URL)]
    pub twilio_api_url: String,

    /// Twilio Numbers API base URL, where regulatory bundles are listed (tests point it
    /// elsewhere).
    #[arg(long, env = "TWILIO_NUMBERS_URL", default_value = DEFAULT_TWILIO_NUMBERS_URL)]
    pub twilio_numbers_url: String,

    /// Retell API base URL (tests and proxies point it elsewhere).
    #[arg(long, env = "RETELL_API_URL", default_value = DEFAULT_RETELL_API_URL)]
    pub retell_api_url: String,

    /// OpenAI Realtime WebSocket URL; `?model=` is added. Tests and self-hosted compatible
    /// servers point it elsewhere.
    #[arg(long, env = "OPENAI_REALTIME_URL", default_value = DEFAULT_OPENAI_REALTIME_URL)]
    pub openai_realtime_url: String,

    /// The first wait before a failed webhook delivery is tried again, in milliseconds; each
    /// later wait is three times the one before (at most 12 hours), eight attempts in all.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_RETRY_BASE_MS", default_value_t = DEFAULT_WEBHOOK_RETRY_BASE_MS,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub webhook_retry_base_ms: u64,
    /// OpenAI REST API base URL, for post-call analysis (`{base}/chat/completions`). Tests
    /// and OpenAI-compatible servers point it elsewhere.
    #[arg(long, env = "OPENAI_API_URL", default_value = DEFAULT_OPENAI_API_URL)]
    pub openai_api_url: String,

    /// How long the first retry of a failed post-call analysis waits, in milliseconds; each
    /// next retry waits twice as long (a model's `retry-after` is obeyed instead).
    #[arg(long, env = "SWITCHBOARD_ANALYSIS_RETRY_BASE_MS", default_value_t = DEFAULT_ANALYSIS_RETRY_BASE_MS)]
    pub analysis_retry_base_ms: u64,

    /// Web origins besides the UI's own and the desktop window's that may use the control API
    /// from a browser, comma-separated: `vite dev`'s `http://localhost:5173`, or the
    /// `https://…` name of a reverse proxy in front of a server's control listener (whose host
    /// is then accepted as the listener's name too).
    #[arg(
        long = "allow-origin",
        env = "SWITCHBOARD_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Sockets the public listener keeps open at once, media WebSockets included; more are
    /// closed unread.
    #[arg(long, env = "SWITCHBOARD_MAX_PUBLIC_SOCKETS", default_value_t = PublicLimits::default().sockets)]
    pub max_public_sockets: usize,

    /// Requests a second one address may send the public listener (twice as many at once).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_RATE_LIMIT", default_value_t = PublicLimits::default().per_address,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub public_rate_limit: u32,

    /// Refused requests a second one address may send the public listener (five times as many
    /// at once) before it is shut out for a few seconds.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_REFUSALS_LIMIT", default_value_t = PublicLimits::default().refusals_per_address,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub public_refusals_limit: u32,

    /// A built UI (ui/dist) to serve on the control listener in place of the one built into
    /// the binary (a UI being worked on, or a binary built without one).
    #[arg(long, env = "SWITCHBOARD_UI_DIR")]
    pub ui_dir: Option<PathBuf>,

    /// The clock campaigns read calling windows and retry times from (tests set one).
    #[arg(skip)]
    pub clock: Option<SharedClock>,
    /// Credential variables (`TWILIO_AUTH_TOKEN`, ...) taken as if they were in the process
    /// environment: for embedding the engine (tests, load generators) without touching it.
    #[arg(skip)]
    pub credential_env: Vec<(String, String)>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("database_schema", &self.database_schema)
            .field("control_addr", &self.control_addr)
            .field("public_addr", &self.public_addr)
            .field("public_url", &self.public_url)
            .field("node_url", &self.node_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("keyring_service", &self.keyring_service)
            .field("no_keyring", &self.no_keyring)
            .field("secrets_file", &self.secrets_file)
            .field("ui_dir", &self.ui_dir)
            .field("allow_origins", &self.allow_origins)
            .field("max_public_sockets", &self.max_public_sockets)
            .field("public_rate_limit", &self.public_rate_limit)
            .field("public_refusals_limit", &self.public_refusals_limit)
            .field(
                "insecure_skip_webhook_signatures",
                &self.insecure_skip_webhook_signatures,
            )
            .field("telnyx_api_url", &self.telnyx_api_url)
            .field("twilio_api_url", &self.twilio_api_url)
            .field("twilio_numbers_url", &self.twilio_numbers_url)
            .field("retell_api_url", &self.retell_api_url)
            .field("openai_realtime_url", &self.openai_realtime_url)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("openai_api_url", &self.openai_api_url)
            .field("analysis_retry_base_ms", &self.analysis_retry_base_ms)
            .field(
                "credential_env",
                &self
                    .credential_env
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clock: None,
            data_dir: None,
            database_url: None,
            database_schema: None,
            control_addr: DEFAULT_CONTROL_ADDR.parse().expect("valid default"),
            public_addr: DEFAULT_PUBLIC_ADDR.parse().expect("valid default"),
            public_url: None,
            node_url: None,
            token: None,
            keyring_service: DEFAULT_KEYRING_SERVICE.into(),
            no_keyring: false,
            secrets_file: false,
            ui_dir: None,
            allow_origins: Vec::new(),
            max_public_sockets: PublicLimits::default().sockets,
            public_rate_limit: PublicLimits::default().per_address,
            public_refusals_limit: PublicLimits::default().refusals_per_address,
            insecure_skip_webhook_signatures: false,
            telnyx_api_url: DEFAULT_TELNYX_API_URL.into(),
            twilio_api_url: DEFAULT_TWILIO_API_URL.into(),
            twilio_numbers_url: DEFAULT_TWILIO_NUMBERS_URL.into(),
            retell_api_url: DEFAULT_RETELL_API_URL.into(),
            openai_realtime_url: DEFAULT_OPENAI_REALTIME_URL.into(),
            webhook_retry_base_ms: DEFAULT_WEBHOOK_RETRY_BASE_MS,
            openai_api_url: DEFAULT_OPENAI_API_URL.into(),
            analysis_retry_base_ms: DEFAULT_ANALYSIS_RETRY_BASE_MS,
            credential_env: Vec::new(),
        }
    }
}

impl Config {
    /// The data directory: as configured, else the OS's usual place
    /// (`~/.local/share/switchboard` on Linux).
    pub fn resolved_data_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        directories::ProjectDirs::from("app", "Switchboard", "switchboard")
            .map(|p| p.data_dir().to_owned())
            .ok_or(ConfigError::NoDataDir)
    }

    /// The public listener's limits.
    pub fn public_limits(&self) -> PublicLimits {
        PublicLimits {
            sockets: self.max_public_sockets.max(1),
            per_address: self.public_rate_limit,
            refusals_per_address: self.public_refusals_limit,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.control_addr.ip().is_loopback() {
            return Err(ConfigError::ControlNotLoopback(self.control_addr));
        }
        if let Some(u) = &self.public_url {
            normalise_public_url(u)?;
        }
        if let Some(u) = &self.node_url {
            normalise_public_url(u)?;
        }
        if let Some(u) = &self.database_url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(ConfigError::DatabaseUrl);
        }
        for o in &self.allow_origins {
            let bare = url::Url::parse(o.trim()).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.username().is_empty()
            });
            if !bare || o.trim().trim_end_matches('/').matches('/').count() != 2 {
                return Err(ConfigError::AllowOrigin(o.clone()));
            }
        }
        Ok(())
    }
}

/// The log filter every binary runs with: `SWITCHBOARD_LOG` (tracing `EnvFilter` syntax),
/// else `info` with the database and HTTP layers' chatter kept to warnings.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"))
}

/// Why a public base URL cannot be used. Never quotes credentials embedded in the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPublicUrl {
    #[error("\"{text}\" is not a URL ({reason})")]
    NotUrl { text: String, reason: String },
    #[error("\"{0}\" must start with https:// (or http://)")]
    Scheme(String),
    #[error("\"{0}\" has no host")]
    NoHost(String),
    #[error("\"{0}\" must not have a query or fragment")]
    QueryOrFragment(String),
    #[error("must not contain a user name or password")]
    Credentials,
}

/// Checks a public base URL and returns it without a trailing slash: carriers must reach
/// `{base}/webhooks/...`, so it must be an absolute http(s) URL with no query or fragment.
pub fn normalise_public_url(input: &str) -> Result<String, BadPublicUrl> {
    let text = input.trim();
    let url = url::Url::parse(text).map_err(|e| BadPublicUrl::NotUrl {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    // Checked first: every other message quotes the text.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadPublicUrl::Credentials);
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadPublicUrl::Scheme(text.to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BadPublicUrl::NoHost(text.to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BadPublicUrl::QueryOrFragment(text.to_owned()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_normalised() {
        assert_eq!(
            normalise_public_url(" https://abc.ngrok.app/ ").unwrap(),
            "https://abc.ngrok.app"
        );
        assert_eq!(
            normalise_public_url("https://example.com/sb/").unwrap(),
            "https://example.com/sb"
        );
        for bad in [
            "ftp://x.com",
            "not a url",
            "https://x.com/?a=1",
            "https://u:p@x.com",
        ] {
            assert!(normalise_public_url(bad).is_err(), "{bad} must be refused");
        }
        for with_secret in ["https://u:secret@x.com", "ftp://u:secret@x.com/?a=1"] {
            assert!(
                !normalise_public_url(with_secret)
                    .unwrap_err()
                    .to_string()
                    .contains("secret"),
                "errors must not echo credentials embedded in a URL ({with_secret})"
            );
        }
    }

    #[test]
    fn allowed_origins_are_bare_web_origins() {
        let with = |o: &str| Config {
            allow_origins: vec![o.into()],
            ..Config::default()
        };
        for good in ["http://localhost:5173", "https://switchboard.example.com/"] {
            assert!(with(good).validate().is_ok(), "{good}");
        }
        for bad in [
            "localhost:5173",
            "*",
            "null",
            "https://example.com/app",
            "ftp://example.com",
            "https://user@example.com",
        ] {
            assert!(
                matches!(with(bad).validate(), Err(ConfigError::AllowOrigin(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn control_listener_must_be_loopback() {
        let mut c = Config {
            control_addr: "0.0.0.0:7720".parse().unwrap(),
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ControlNotLoopback(_))
        ));
        c.control_addr = "[::1]:0".parse().unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Config {
            token: Some("sekrit".into()),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
