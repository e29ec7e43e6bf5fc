//! Credentials and the control token. They live in the OS keyring (service `switchboard`);
//! a server without a keyring keeps them in an owner-only file in its data directory
//! (`--secrets-file`, `FileStore`) or passes credentials in environment variables. Values never
//! reach the database, the logs, error messages or API responses: `Credentials`' `Debug`
//! redacts them and errors name fields and variables, never contents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Invalid;

const TOKEN_ENTRY: &str = "control-token";
pub const TOKEN_FILE: &str = "control-token";
/// The secrets file in the data directory, with `--secrets-file`.
pub const SECRETS_FILE: &str = "secrets.json";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Twilio,
    Telnyx,
    Openai,
    Livekit,
    Retell,
}

/// One value a provider needs: its field name in the API and the environment variable that
/// may supply it on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub env: &'static str,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Self::Twilio,
        Self::Telnyx,
        Self::Openai,
        Self::Livekit,
        Self::Retell,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Telnyx => "telnyx",
            Self::Openai => "openai",
            Self::Livekit => "livekit",
            Self::Retell => "retell",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Self::Twilio => &[
                Field {
                    name: "account_sid",
                    env: "TWILIO_ACCOUNT_SID",
                },
                Field {
                    name: "auth_token",
                    env: "TWILIO_AUTH_TOKEN",
                },
            ],
            Self::Telnyx => &[
                Field {
                    name: "api_key",
                    env: "TELNYX_API_KEY",
                },
                Field {
                    name: "public_key",
                    env: "TELNYX_PUBLIC_KEY",
                },
            ],
            Self::Openai => &[Field {
                name: "api_key",
                env: "OPENAI_API_KEY",
            }],
            Self::Livekit => &[
                Field {
                    name: "url",
                    env: "LIVEKIT_URL",
                },
                Field {
                    name: "api_key",
                    env: "LIVEKIT_API_KEY",
                },
                Field {
                    name: "api_secret",
                    env: "LIVEKIT_API_SECRET",
                },
            ],
            Self::Retell => &[Field {
                name: "api_key",
                env: "RETELL_API_KEY",
            }],
        }
    }

    fn entry_name(self) -> String {
        format!("credentials/{}", self.as_str())
    }

    /// Checks the shape of each value where the provider documents one, without ever quoting
    /// the value back.
    fn check(self, name: &str, value: &str) -> Result<(), &'static str> {
        match (self, name) {
            (Self::Twilio, "account_sid") => {
                let ok = value.len() == 34
                    && value.starts_with("AC")
                    && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
                ok.then_some(())
                    .ok_or("must be AC followed by 32 hex digits")
            }
            (Self::Telnyx, "public_key") => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|_| "must be base64 (from Mission Control, Keys & Credentials)")?;
                (bytes.len() == 32)
                    .then_some(())
                    .ok_or("must decode to a 32-byte Ed25519 key")
            }
            (Self::Livekit, "url") => match url::Url::parse(value) {
                Ok(u) if matches!(u.scheme(), "ws" | "wss" | "http" | "https") => Ok(()),
                _ => Err("must be a ws://, wss://, http:// or https:// URL"),
            },
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's credentials. `Debug` shows which fields are set, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub provider: Provider,
    values: BTreeMap<String, String>,
}

impl Credentials {
    /// The value of one of the provider's fields (always present: checked when stored).
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    /// Validates a set of values for `provider`: every field present and non-empty, no
    /// unknown fields, documented shapes respected.
    pub fn new(provider: Provider, mut values: BTreeMap<String, String>) -> Result<Self, Invalid> {
        let fields = provider.fields();
        if let Some(unknown) = values.keys().find(|k| !fields.iter().any(|f| f.name == *k)) {
            let expected: Vec<_> = fields.iter().map(|f| f.name).collect();
            return Err(Invalid::new(
                "credentials",
                format!(
                    "{provider} has no field \"{unknown}\"; expected {}",
                    expected.join(", ")
                ),
            ));
        }
        for f in fields {
            let value = values.get_mut(f.name).map(|v| {
                *v = v.trim().to_owned();
                v
            });
            match value {
                Some(v) if !v.is_empty() => provider.check(f.name, v).map_err(|m| {
                    Invalid::new("credentials", format!("{provider} {}: {m}", f.name))
                })?,
                _ => {
                    return Err(Invalid::new(
                        "credentials",
                        format!("{provider} needs {} (missing or empty)", f.name),
                    ));
                }
            }
        }
        Ok(Self { provider, values })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Credentials");
        d.field("provider", &self.provider);
        for name in self.values.keys() {
            d.field(name, &"<redacted>");
        }
        d.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialSource {
    Keyring,
    Environment,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialStatus {
    pub provider: Provider,
    pub set: bool,
    /// Where the credentials in use come from; `null` when not set.
    pub source: Option<CredentialSource>,
    /// The fields this provider needs.
    pub fields: Vec<String>,
    /// The environment variables a server may set instead of the keyring.
    pub env_vars: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyringStatus {
    pub available: bool,
    /// Why the keyring cannot be used, when it cannot.
    pub problem: Option<String>,
    /// Secrets are kept in an owner-only file in the engine's data directory
    /// (`--secrets-file`, for servers), not in an OS keyring.
    pub file: bool,
}

/// Where the engine keeps secrets.
#[derive(Debug, Clone)]
pub enum SecretsPlace {
    /// The OS keyring, under this service name.
    Keyring(String),
    /// An owner-only file (`FileStore`).
    File(PathBuf),
    /// Nowhere: credentials from the environment only, nothing can be saved.
    Nowhere,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{provider} credentials are not set: {hint}")]
    Missing { provider: Provider, hint: String },
    #[error(
        "the OS keyring is not available ({0}); on a server, pass credentials in environment variables"
    )]
    KeyringUnavailable(String),
    #[error("the OS keyring failed: {0}")]
    Keyring(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("cannot read or write the token file: {0}")]
    TokenFile(#[from] std::io::Error),
}

/// A keyring failure in the platform's words (which never include a secret's value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyringError(pub String);

impl KeyringError {
    fn from(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// Where secrets are kept: the seam between Switchboard and the platform's keyring.
pub trait KeyStore: Send + Sync + 'static {
    fn get(&self, entry: &str) -> Result<Option<String>, KeyringError>;
    fn set(&self, entry: &str, value: &str) -> Result<(), KeyringError>;
    /// Deleting what is not there is not an error.
    fn delete(&self, entry: &str) -> Result<(), KeyringError>;
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
pub struct OsKeyring {
    service: String,
}

impl OsKeyring {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, KeyringError> {
        keyring::Entry::new(&self.service, name).map_err(KeyringError::from)
    }
}

impl KeyStore for OsKeyring {
    fn get(&self, entry: &str) -> Result<Option<String>, KeyringError> {
        match self.entry(entry)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(KeyringError::from(e)),
        }
    }

    fn set(&self, entry: &str, value: &str) -> Result<(), KeyringError> {
        self.entry(entry)?
            .set_password(value)
            .map_err(KeyringError::from)
    }

    fn delete(&self, entry: &str) -> Result<(), KeyringError> {
        match self.entry(entry)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(KeyringError::from(e)),
        }
    }
}

/// Secrets in an owner-only JSON file, for a server without an OS keyring: the protection the
/// control token's file has there. Each change rewrites the whole file beside it and renames it
/// into place, so a crash leaves the old file or the new one, never half of either. A file
/// others can read is refused rather than used.
pub struct FileStore {
    path: PathBuf,
    lock: std::sync::Mutex<()>,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: std::sync::Mutex::new(()),
        }
    }

    fn read(&self) -> Result<BTreeMap<String, String>, KeyringError> {
        let shown = self.path.display();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(KeyringError(format!("cannot read {shown}: {e}"))),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&self.path)
                .map_err(|e| KeyringError(format!("cannot read {shown}: {e}")))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyringError(format!(
                    "{shown} can be read by other users (mode {:o}): chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        serde_json::from_str(&text)
            .map_err(|_| KeyringError(format!("{shown} is not a secrets file Switchboard wrote")))
    }

    fn write(&self, entries: &BTreeMap<String, String>) -> Result<(), KeyringError> {
        use std::io::Write as _;
        let fail =
            |e: std::io::Error| KeyringError(format!("cannot write {}: {e}", self.path.display()));
        let json = serde_json::to_string_pretty(entries).map_err(KeyringError::from)?;
        let next = self.path.with_extension("json.new");
        match std::fs::remove_file(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&next).map_err(fail)?;
        f.write_all(json.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&next, &self.path).map_err(fail)?;
        // The rename itself is durable once the directory is.
        #[cfg(unix)]
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(fail)?;
        }
        Ok(())
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, String>) -> bool,
    ) -> Result<(), KeyringError> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = self.read()?;
        if edit(&mut entries) {
            self.write(&entries)?;
        }
        Ok(())
    }
}

impl KeyStore for FileStore {
    fn get(&self, entry: &str) -> Result<Option<String>, KeyringError> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.read()?.remove(entry))
    }

    fn set(&self, entry: &str, value: &str) -> Result<(), KeyringError> {
        self.change(|e| {
            e.insert(entry.to_owned(), value.to_owned());
            true
        })
    }

    fn delete(&self, entry: &str) -> Result<(), KeyringError> {
        self.change(|e| e.remove(entry).is_some())
    }
}

/// The engine's access to secrets. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

struct Inner {
    keyring: Result<Arc<dyn KeyStore>, KeyringError>,
    /// The store is a `FileStore` (the control token then keeps its own file).
    file: bool,
    /// What the keyring held when last read or written, so hot paths (every webhook checks a
    /// signature) never wait on it. Entries changed outside Switchboard are seen on restart.
    cache: std::sync::RwLock<BTreeMap<Provider, Option<Credentials>>>,
    /// Credentials complete in the environment at start-up, validated once.
    env: BTreeMap<Provider, Credentials>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("keyring_available", &self.inner.keyring.is_ok())
            .field("from_env", &self.inner.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Opens the OS keyring under `service`, probing it once so that a missing or locked
    /// keyring is reported at start-up instead of at the first credential write.
    pub async fn open(place: SecretsPlace, env: BTreeMap<String, String>) -> Self {
        let file = matches!(place, SecretsPlace::File(_));
        let keyring = match place {
            SecretsPlace::Nowhere => Err(KeyringError("disabled by configuration".to_owned())),
            SecretsPlace::Keyring(service) => probe(OsKeyring::new(service)).await,
            SecretsPlace::File(path) => probe(FileStore::new(path)).await,
        };
        match &keyring {
            Err(problem) if file => {
                tracing::warn!(%problem, "secrets file unusable; credentials only from environment variables");
            }
            Err(problem) => {
                tracing::warn!(%problem, "OS keyring unavailable; credentials only from environment variables");
            }
            Ok(_) => {}
        }
        Self::new(keyring, file, env)
    }

    pub fn with_store(
        keyring: Result<Arc<dyn KeyStore>, KeyringError>,
        env: BTreeMap<String, String>,
    ) -> Self {
        Self::new(keyring, false, env)
    }

    fn new(
        keyring: Result<Arc<dyn KeyStore>, KeyringError>,
        file: bool,
        env: BTreeMap<String, String>,
    ) -> Self {
        let env = Provider::ALL
            .into_iter()
            .filter_map(|provider| {
                let values = provider
                    .fields()
                    .iter()
                    .map(|f| Some((f.name.to_owned(), env.get(f.env)?.clone())))
                    .collect::<Option<BTreeMap<_, _>>>()?;
                match Credentials::new(provider, values) {
                    Ok(c) => Some((provider, c)),
                    Err(e) => {
                        tracing::warn!(%provider, problem = %e.message, "credentials in the environment ignored");
                        None
                    }
                }
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                keyring,
                file,
                cache: Default::default(),
                env,
            }),
        }
    }

    /// The credential environment variables present in `vars` (e.g. `std::env::vars()`).
    pub fn env_from(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
        let known: Vec<&str> = Provider::ALL
            .iter()
            .flat_map(|p| p.fields().iter().map(|f| f.env))
            .collect();
        vars.into_iter()
            .filter(|(k, v)| known.contains(&k.as_str()) && !v.trim().is_empty())
            .collect()
    }

    pub fn keyring_status(&self) -> KeyringStatus {
        KeyringStatus {
            available: self.inner.keyring.is_ok(),
            problem: self.inner.keyring.as_ref().err().map(|e| e.0.clone()),
            file: self.inner.file,
        }
    }

    fn keyring(&self) -> Result<Arc<dyn KeyStore>, SecretsError> {
        self.inner
            .keyring
            .clone()
            .map_err(|e| SecretsError::KeyringUnavailable(e.0))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KeyStore) -> Result<T, KeyringError> + Send + 'static,
    ) -> Result<T, SecretsError> {
        let store = self.keyring()?;
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| SecretsError::Keyring(e.to_string()))?
            .map_err(|e| SecretsError::Keyring(e.0))
    }

    fn env_credentials(&self, provider: Provider) -> Option<Credentials> {
        self.inner.env.get(&provider).cloned()
    }

    async fn keyring_credentials(
        &self,
        provider: Provider,
    ) -> Result<Option<Credentials>, SecretsError> {
        if self.inner.keyring.is_err() {
            return Ok(None);
        }
        if let Some(cached) = self.cached(provider) {
            return Ok(cached);
        }
        let name = provider.entry_name();
        let Some(json) = self.blocking(move |k| k.get(&name)).await? else {
            self.remember(provider, None);
            return Ok(None);
        };
        let values: BTreeMap<String, String> = serde_json::from_str(&json).map_err(|_| {
            SecretsError::Keyring(format!("the keyring entry for {provider} is not readable"))
        })?;
        let credentials = Credentials::new(provider, values)?;
        self.remember(provider, Some(credentials.clone()));
        Ok(Some(credentials))
    }

    fn cached(&self, provider: Provider) -> Option<Option<Credentials>> {
        let cache = self.inner.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.get(&provider).cloned()
    }

    fn remember(&self, provider: Provider, value: Option<Credentials>) {
        let mut cache = self.inner.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.insert(provider, value);
    }

    /// The credentials in force for `provider`: the keyring's, else the environment's.
    pub async fn credentials(&self, provider: Provider) -> Result<Credentials, SecretsError> {
        if let Some(c) = self.keyring_credentials(provider).await? {
            return Ok(c);
        }
        if let Some(c) = self.env_credentials(provider) {
            return Ok(c);
        }
        let vars: Vec<_> = provider.fields().iter().map(|f| f.env).collect();
        let hint = match &self.inner.keyring {
            Ok(_) => format!(
                "add them in Settings (kept in the OS keyring) or set {}",
                vars.join(" and ")
            ),
            Err(_) => format!(
                "the OS keyring is not available, so set {}",
                vars.join(" and ")
            ),
        };
        Err(SecretsError::Missing { provider, hint })
    }

    pub async fn status(&self) -> Result<Vec<CredentialStatus>, SecretsError> {
        let mut out = Vec::new();
        for provider in Provider::ALL {
            let source = if self.keyring_credentials(provider).await?.is_some() {
                Some(CredentialSource::Keyring)
            } else if self.env_credentials(provider).is_some() {
                Some(CredentialSource::Environment)
            } else {
                None
            };
            out.push(CredentialStatus {
                provider,
                set: source.is_some(),
                source,
                fields: provider
                    .fields()
                    .iter()
                    .map(|f| f.name.to_owned())
                    .collect(),
                env_vars: provider.fields().iter().map(|f| f.env.to_owned()).collect(),
            });
        }
        Ok(out)
    }

    pub async fn store(&self, credentials: Credentials) -> Result<(), SecretsError> {
        let provider = credentials.provider;
        let name = provider.entry_name();
        let json = serde_json::to_string(&credentials.values).expect("a string map serialises");
        self.blocking(move |k| k.set(&name, &json)).await?;
        self.remember(provider, Some(credentials));
        Ok(())
    }

    pub async fn delete(&self, provider: Provider) -> Result<(), SecretsError> {
        let name = provider.entry_name();
        self.blocking(move |k| k.delete(&name)).await?;
        self.remember(provider, None);
        Ok(())
    }

    /// The control API token: the keyring's, else the owner-only file in `data_dir`; made and
    /// kept on first use (in the keyring when there is one).
    /// The value of tool secret `name`, if it is set. Tool secrets live in the keyring only.
    pub async fn tool_secret(&self, name: &str) -> Result<Option<String>, SecretsError> {
        let entry = tool_entry(name);
        self.blocking(move |s| s.get(&entry)).await
    }

    pub async fn store_tool_secret(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        let (entry, value) = (tool_entry(name), value.to_owned());
        self.blocking(move |s| s.set(&entry, &value)).await
    }

    pub async fn delete_tool_secret(&self, name: &str) -> Result<(), SecretsError> {
        let entry = tool_entry(name);
        self.blocking(move |s| s.delete(&entry)).await
    }

    /// The signing secret of webhook endpoint `id`, if the keyring has it.
    pub async fn webhook_secret(&self, id: &str) -> Result<Option<String>, SecretsError> {
        let entry = webhook_entry(id);
        self.blocking(move |s| s.get(&entry)).await
    }

    pub async fn store_webhook_secret(&self, id: &str, value: &str) -> Result<(), SecretsError> {
        let (entry, value) = (webhook_entry(id), value.to_owned());
        self.blocking(move |s| s.set(&entry, &value)).await
    }

    pub async fn delete_webhook_secret(&self, id: &str) -> Result<(), SecretsError> {
        let entry = webhook_entry(id);
        self.blocking(move |s| s.delete(&entry)).await
    }

    pub async fn control_token(&self, data_dir: &Path) -> Result<String, SecretsError> {
        let file = data_dir.join(TOKEN_FILE);
        // With a secrets file the token keeps its own file, where an administrator reads it.
        let in_keyring = self.inner.keyring.is_ok() && !self.inner.file;
        if in_keyring && let Some(t) = self.blocking(|k| k.get(TOKEN_ENTRY)).await? {
            return Ok(t);
        }
        match tokio::fs::read_to_string(&file).await {
            Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let token = new_token();
        if in_keyring {
            let t = token.clone();
            self.blocking(move |k| k.set(TOKEN_ENTRY, &t)).await?;
        } else {
            write_owner_only(&file, &token).await?;
        }
        Ok(token)
    }
}

/// Opens `store` by reading an entry once, so that an unusable one is reported at start-up
/// instead of at the first write.
async fn probe<S: KeyStore>(store: S) -> Result<Arc<dyn KeyStore>, KeyringError> {
    tokio::task::spawn_blocking(move || store.get("probe").map(|_| store))
        .await
        .unwrap_or_else(|e| Err(KeyringError::from(e)))
        .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
}

/// Compares two secrets (tokens, signatures) in time that depends only on their length, so
/// response timing tells an attacker nothing about how much of a guess was right.
/// The keyring entry of tool secret `name`: apart from the providers' credentials.
fn tool_entry(name: &str) -> String {
    format!("tool-secrets/{name}")
}

/// The keyring entry of webhook endpoint `id`'s signing secret.
fn webhook_entry(id: &str) -> String {
    format!("webhooks/{id}")
}

/// Whether two secrets are equal, in a time that does not depend on where they differ (nor,
/// as both are hashed first, on their lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    a.as_slice().ct_eq(b.as_slice()).into()
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn write_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    let path = path.to_owned();
    let contents = contents.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&path)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The secrets file: what is set is read back and survives a new store on the same file
    /// (a restart), a leftover half-written file from a crash is no obstacle, and a file that
    /// is not one Switchboard wrote is refused without showing what it holds.
    #[test]
    fn the_secrets_file_keeps_entries_and_refuses_what_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let store = FileStore::new(&path);
        assert_eq!(store.get("webhooks/a").unwrap(), None, "no file yet");
        store.delete("webhooks/a").unwrap();
        assert!(!path.exists(), "deleting nothing writes nothing");
        std::fs::write(path.with_extension("json.new"), "{\"half\":").unwrap();
        store.set("webhooks/a", "whsec_1").unwrap();
        store
            .set("credentials/openai", "{\"api_key\":\"sk-1\"}")
            .unwrap();
        store.delete("webhooks/a").unwrap();
        let again = FileStore::new(&path);
        assert_eq!(again.get("webhooks/a").unwrap(), None);
        assert_eq!(
            again.get("credentials/openai").unwrap().as_deref(),
            Some("{\"api_key\":\"sk-1\"}")
        );
        assert!(!path.with_extension("json.new").exists());

        std::fs::write(&path, "api_key=sk-plain").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = FileStore::new(&path).get("x").unwrap_err().0;
        assert!(err.contains("not a secrets file"), "{err}");
        assert!(!err.contains("sk-plain"), "{err}");
    }

    #[derive(Default)]
    struct MemoryStore(Mutex<BTreeMap<String, String>>);

    impl KeyStore for MemoryStore {
        fn get(&self, entry: &str) -> Result<Option<String>, KeyringError> {
            Ok(self.0.lock().unwrap().get(entry).cloned())
        }
        fn set(&self, entry: &str, value: &str) -> Result<(), KeyringError> {
            self.0.lock().unwrap().insert(entry.into(), value.into());
            Ok(())
        }
        fn delete(&self, entry: &str) -> Result<(), KeyringError> {
            self.0.lock().unwrap().remove(entry);
            Ok(())
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn debug_never_shows_values() {
        let c = Credentials::new(
            Provider::Twilio,
            values(&[("account_sid", SID), ("auth_token", "hunter2-secret")]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(SID), "{shown}");
        assert!(shown.contains("auth_token"));
    }

    #[test]
    fn validation_names_fields_but_never_echoes_values() {
        let err =
            Credentials::new(Provider::Twilio, values(&[("account_sid", "XYsecret")])).unwrap_err();
        assert!(!err.message.contains("XYsecret"), "{err}");
        let err = Credentials::new(
            Provider::Twilio,
            values(&[("account_sid", SID), ("auth_token", " ")]),
        )
        .unwrap_err();
        assert!(err.message.contains("auth_token"), "{err}");
        let err = Credentials::new(Provider::Openai, values(&[("api_key", "k"), ("x", "y")]))
            .unwrap_err();
        assert!(err.message.contains("no field \"x\""), "{err}");
        let err = Credentials::new(
            Provider::Telnyx,
            values(&[("api_key", "KEY"), ("public_key", "c2hvcnQ=")]),
        )
        .unwrap_err();
        assert!(err.message.contains("32-byte"), "{err}");
    }

    #[tokio::test]
    async fn keyring_wins_over_environment_and_missing_names_the_variables() {
        let env = values(&[("OPENAI_API_KEY", "from-env")]);
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::default());
        let secrets = Secrets::with_store(Ok(store), env);
        let c = secrets.credentials(Provider::Openai).await.unwrap();
        assert_eq!(c.get("api_key"), "from-env");
        secrets
            .store(
                Credentials::new(Provider::Openai, values(&[("api_key", "from-keyring")])).unwrap(),
            )
            .await
            .unwrap();
        let c = secrets.credentials(Provider::Openai).await.unwrap();
        assert_eq!(c.get("api_key"), "from-keyring");
        let err = secrets
            .credentials(Provider::Twilio)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TWILIO_ACCOUNT_SID") && err.contains("TWILIO_AUTH_TOKEN"),
            "the error must say what to set: {err}"
        );
    }

    #[tokio::test]
    async fn without_a_keyring_the_token_goes_to_an_owner_only_file_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let secrets =
            Secrets::with_store(Err(KeyringError("no keyring here".into())), BTreeMap::new());
        let first = secrets.control_token(dir.path()).await.unwrap();
        assert!(first.len() >= 43, "32 random bytes, base64");
        assert_eq!(secrets.control_token(dir.path()).await.unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = secrets
            .store(Credentials::new(Provider::Openai, values(&[("api_key", "k")])).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SecretsError::KeyringUnavailable(_)),
            "{err:?}"
        );
    }

    #[test]
    fn env_from_keeps_only_credential_variables() {
        let env = Secrets::env_from([
            ("PATH".to_string(), "/bin".to_string()),
            ("TELNYX_API_KEY".to_string(), "k".to_string()),
            ("RETELL_API_KEY".to_string(), " ".to_string()),
        ]);
        assert_eq!(env.keys().collect::<Vec<_>>(), ["TELNYX_API_KEY"]);
    }
}
