//! `/api/backup`: a consistent copy of the embedded database as a download while the engine
//! runs, and a restore staged for the next start (`store::backup` says how). On PostgreSQL
//! both answer with the way to do it there: `pg_dump` and `pg_restore`.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::store::{Kind, StoreError, backup};
use crate::web::{ApiError, ApiResult, ErrorBody};

/// The biggest database a restore takes (the upload is written to disk as it comes).
const RESTORE_MAX_BYTES: u64 = 16 * 1024 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupStatus {
    /// False on PostgreSQL, whose own tools back it up (`message` says how).
    pub supported: bool,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The schema version this engine's database has and a backup of it carries.
    pub schema_version: i64,
    /// A restore is staged and takes effect when Switchboard restarts.
    pub restore_staged: bool,
    /// What a backup holds and does not (credentials), or on PostgreSQL how to back it up.
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreStaged {
    /// Always true: the restore takes effect when Switchboard restarts.
    pub restart_required: bool,
    /// The schema version of the file staged.
    pub schema_version: i64,
    pub message: String,
}

fn postgres(engine: &Engine) -> bool {
    engine.store().kind() == Kind::Postgres
}

/// What backups and restores can do on this engine.
#[utoipa::path(operation_id = "backup_status", get, path = "/api/backup/status", tag = "settings",
    responses((status = 200, body = BackupStatus)))]
pub async fn status(State(engine): State<Engine>) -> axum::Json<BackupStatus> {
    let pg = postgres(&engine);
    axum::Json(BackupStatus {
        supported: !pg,
        database: if pg { "postgres" } else { "sqlite" }.into(),
        schema_version: crate::store::known_version(),
        restore_staged: !pg && backup::is_staged(engine.data_dir()),
        message: if pg {
            format!("Backups: {}.", backup::USE_PG_DUMP)
        } else {
            backup::NO_CREDENTIALS.into()
        },
    })
}

/// A consistent copy of the database, taken while the engine runs and integrity-checked, as
/// a SQLite file to download. It holds no credentials (they stay in the keyring).
#[utoipa::path(operation_id = "download_backup", get, path = "/api/backup", tag = "settings",
    responses(
        (status = 200, content_type = "application/vnd.sqlite3", body = Vec<u8>,
            description = "The database, named like switchboard-backup-2026-12-06T1405Z.sqlite"),
        (status = 409, body = ErrorBody, description = "On PostgreSQL: use pg_dump"),
    ))]
pub async fn download(State(engine): State<Engine>) -> ApiResult<Response> {
    if postgres(&engine) {
        return Err(StoreError::Unsupported(backup::USE_PG_DUMP.into()).into());
    }
    let now = jiff::Timestamp::now();
    let name = format!(
        "switchboard-backup-{}.sqlite",
        now.strftime("%Y-%m-%dT%H%MZ")
    );
    // Made in the data directory (the same disk, and nobody else's to read), then served
    // from the open file after its name is gone, so nothing is left behind.
    let path = engine
        .data_dir()
        .join(format!("backup-{}.sqlite.partial", uuid::Uuid::now_v7()));
    let made = engine.store().backup_into(&path).await?;
    let file = tokio::fs::File::open(&path).await;
    let _ = tokio::fs::remove_file(&path).await;
    let file = file.map_err(|e| StoreError::Corrupt(format!("the backup vanished: {e}")))?;
    tracing::info!(
        bytes = made.bytes,
        schema = made.schema_version,
        "backup downloaded"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.sqlite3".to_owned()),
            (header::CONTENT_LENGTH, made.bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(chunks(file)),
    )
        .into_response())
}

/// Restores a backup (the SQLite file as the body) at the next start. The file is checked
/// first: a SQLite database, whole, Switchboard's, not newer than this engine; one that is
/// not changes nothing. The database in use is kept beside the restored one.
#[utoipa::path(operation_id = "restore_backup", post, path = "/api/backup/restore", tag = "settings",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "A backup file"),
    responses(
        (status = 200, body = RestoreStaged),
        (status = 409, body = ErrorBody, description = "On PostgreSQL: use pg_restore"),
        (status = 413, body = ErrorBody, description = "The file is too big"),
        (status = 422, body = ErrorBody, description = "The file is not a backup this engine can restore (the message says why)"),
    ))]
pub async fn restore(
    State(engine): State<Engine>,
    body: Body,
) -> ApiResult<axum::Json<RestoreStaged>> {
    if postgres(&engine) {
        return Err(StoreError::Unsupported(backup::USE_PG_DUMP.replace(
            "back it up with pg_dump and restore it with pg_restore",
            "restore it with pg_restore (from a pg_dump)",
        ))
        .into());
    }
    let dir = engine.data_dir();
    let upload = dir.join(format!("restore-{}.sqlite.upload", uuid::Uuid::now_v7()));
    let staged = async {
        receive(body, &upload).await?;
        Ok::<_, ApiError>(backup::stage(dir, &upload, "the file").await?)
    }
    .await;
    let _ = tokio::fs::remove_file(&upload).await;
    let staged = staged?;
    tracing::info!(
        schema = staged.schema_version,
        "a restore is staged for the next start"
    );
    Ok(axum::Json(RestoreStaged {
        restart_required: true,
        schema_version: staged.schema_version,
        message: "The backup is checked and staged: it takes effect when Switchboard restarts. \
            The database in use now is kept beside it."
            .into(),
    }))
}

/// A file's bytes as a stream of chunks.
fn chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Writes the request body to `path` as it arrives, up to `RESTORE_MAX_BYTES`.
async fn receive(body: Body, path: &std::path::Path) -> ApiResult<()> {
    let failed = |e: std::io::Error| {
        ApiError::from(StoreError::Corrupt(format!("cannot keep the upload: {e}")))
    };
    let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::malformed(format!("the upload broke off: {e}")))?;
        total += chunk.len() as u64;
        if total > RESTORE_MAX_BYTES {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                crate::web::ErrorCode::Invalid,
                format!(
                    "the file is bigger than {} GB, more than a Switchboard database can be",
                    RESTORE_MAX_BYTES >> 30
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)?;
    Ok(())
}
