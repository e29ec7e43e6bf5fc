//! Backups and restores as a user makes them: `GET /api/backup` and `switchboard backup`
//! while an engine runs and a writer keeps writing, restored with `switchboard restore` and
//! `POST /api/backup/restore` into an engine started again; bad files refused with their
//! reason and nothing changed; a database of a newer Switchboard refused at start in words.
//! (On PostgreSQL, which the suite runs on when `SWITCHBOARD_TEST_DATABASE_URL` is set, the
//! same requests must point at pg_dump instead, and a newer schema is refused the same way.)

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::campaigns::{campaign, import, leads_csv, settings};
use common::{Api, Serve, serve, test_database, token};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

const NO_KEYRING: (&str, &str) = ("SWITCHBOARD_NO_KEYRING", "true");
const LEADS: usize = 300;
/// A schema version no Switchboard has yet.
const FUTURE: i64 = 20_991_231_000_000;

/// `switchboard ARGS --data-dir DIR`, run to its end.
fn cli(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(common::database_env(dir))
        .env("RUST_BACKTRACE", "0")
        .env(NO_KEYRING.0, NO_KEYRING.1)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn started(dir: &Path) -> (Serve, Api) {
    let s = serve(dir, &[NO_KEYRING], &[]).await;
    let api = Api::new(s.control.clone(), token(dir, &[NO_KEYRING]));
    (s, api)
}

async fn agent_names(api: &Api) -> Vec<String> {
    let (s, list) = api.get("/api/agents").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn lead_phones(api: &Api, campaign: &str) -> Vec<String> {
    let mut phones = Vec::new();
    loop {
        let (s, page) = api
            .get(&format!(
                "/api/campaigns/{campaign}/leads?limit=500&offset={}",
                phones.len()
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            return phones;
        }
        phones.extend(
            items
                .iter()
                .map(|l| l["phone"].as_str().unwrap().to_owned()),
        );
    }
}

/// The engine's download of a backup: its file name and bytes.
async fn download(api: &Api) -> (String, Vec<u8>) {
    let res = api
        .http
        .get(format!("{}/api/backup", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let name = disposition
        .split("filename=\"")
        .nth(1)
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or_else(|| panic!("a file name in {disposition}"))
        .to_owned();
    (name, res.bytes().await.unwrap().to_vec())
}

async fn upload(api: &Api, bytes: Vec<u8>) -> (StatusCode, Value) {
    let res = api
        .http
        .post(format!("{}/api/backup/restore", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

/// Marks `file` (a SQLite database) as migrated by a newer Switchboard.
async fn make_newer(file: &Path) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, 'from the future', 1, x'00', 1)",
    )
    .bind(FUTURE)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// On PostgreSQL a backup is pg_dump's job: the API and the CLI say so and do nothing.
async fn postgres_points_at_pg_dump(dir: &Path) {
    let (s, api) = started(dir).await;
    let (status, body) = api.get("/api/backup").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pg_dump")
    );
    let (status, body) = upload(&api, b"anything".to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pg_restore")
    );
    let (_, st) = api.get("/api/backup/status").await;
    assert_eq!(st["supported"], false);
    assert!(st["message"].as_str().unwrap().contains("pg_dump"));
    let out = cli(dir, &["backup", dir.join("x.sqlite").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("pg_dump"), "{}", text(&out));
    assert!(!dir.join("x.sqlite").exists());
    s.terminate().await;
}

#[tokio::test]
async fn backups_taken_while_writing_restore_the_same_agents_and_leads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    std::fs::create_dir_all(&dir).unwrap();
    if test_database(&dir).is_some() {
        return postgres_points_at_pg_dump(&dir).await;
    }
    let (s, api) = started(&dir).await;
    for i in 0..5 {
        api.agent(&format!("Agent {i}")).await;
    }
    let first = api.agent("Caller").await;
    let id = campaign(
        &api,
        json!({"name": "Spring", "agents": [{"agent_id": first}], "settings": settings(json!({}))}),
    )
    .await;
    assert_eq!(
        import(&api, &id, &leads_csv(LEADS)).await["imported"],
        LEADS
    );
    let leads = lead_phones(&api, &id).await;
    assert_eq!(leads.len(), LEADS);

    // A writer keeps adding agents while the backups are taken; what it was told was
    // stored before a backup began must be in that backup.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = {
        let (api, stop, acknowledged) = (api.clone(), stop.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("Writer {i:05}");
                let (s, body) = api.post("/api/agents", json!({"name": name})).await;
                assert_eq!(s, StatusCode::CREATED, "{body}");
                acknowledged.lock().unwrap().push(name);
                i += 1;
            }
        })
    };
    let settle = || async {
        while acknowledged.lock().unwrap().len() < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    settle().await;
    let before_api = acknowledged.lock().unwrap().clone();
    let (name, bytes) = download(&api).await;
    assert!(
        name.starts_with("switchboard-backup-") && name.ends_with("Z.sqlite"),
        "{name}"
    );
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let api_file = tmp.path().join(&name);
    std::fs::write(&api_file, &bytes).unwrap();

    let before_cli = acknowledged.lock().unwrap().clone();
    let cli_file = tmp.path().join("by-cli.sqlite");
    let out = cli(&dir, &["backup", cli_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("integrity check passed"), "{said}");
    assert!(said.contains("no credentials"), "{said}");
    assert!(
        said.contains(cli_file.to_str().unwrap()),
        "it says where: {said}"
    );
    // A second backup to the same file is refused, the first one left as it was.
    let kept = std::fs::read(&cli_file).unwrap();
    let again = cli(&dir, &["backup", cli_file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(std::fs::read(&cli_file).unwrap(), kept);
    let more = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < more + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let written = acknowledged.lock().unwrap().clone();
    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "{log}");

    for (file, before) in [(&api_file, &before_api), (&cli_file, &before_cli)] {
        let fresh = tmp.path().join(format!(
            "restored-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        let out = cli(&fresh, &["restore", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("Restored"), "{}", text(&out));
        let (s, api) = started(&fresh).await;
        let names = agent_names(&api).await;
        for i in 0..5 {
            assert!(names.contains(&format!("Agent {i}")), "{names:?}");
        }
        for n in before {
            assert!(names.contains(n), "{n} was stored before the backup began");
        }
        let writers: Vec<&String> = names.iter().filter(|n| n.starts_with("Writer")).collect();
        assert!(
            writers.iter().all(|n| written.contains(n)),
            "only what was written"
        );
        assert!(
            writers.len() < written.len(),
            "a backup is of its moment: {} of {} written agents",
            writers.len(),
            written.len()
        );
        assert_eq!(lead_phones(&api, &id).await, leads, "every lead, in order");
        let (exit, log) = s.terminate().await;
        assert!(exit.success(), "{log}");
    }
}

#[tokio::test]
async fn bad_files_are_refused_with_the_reason_and_a_good_one_takes_effect_at_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    std::fs::create_dir_all(&dir).unwrap();
    if test_database(&dir).is_some() {
        return postgres_points_at_pg_dump(&dir).await;
    }
    let (s, api) = started(&dir).await;
    api.agent("In the backup").await;
    let (_, good) = download(&api).await;
    api.agent("After the backup").await;

    // Damaged in the middle: the header is a SQLite one, the pages are not.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle..middle + 8192].fill(0xA5);
    // A SQLite database, but not Switchboard's.
    let foreign = tmp.path().join("foreign.sqlite");
    {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", foreign.display()))
                .await
                .unwrap();
        sqlx::query("CREATE TABLE notes (body TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let newer = tmp.path().join("newer.sqlite");
    std::fs::write(&newer, &good).unwrap();
    make_newer(&newer).await;
    let empty = Vec::new();
    for (bytes, says) in [
        (
            b"name,phone\nAda,+14155550100\n".to_vec(),
            "is not a SQLite database",
        ),
        (empty, "is not a SQLite database"),
        (damaged.clone(), "the file "),
        (
            std::fs::read(&foreign).unwrap(),
            "not a Switchboard database",
        ),
        (
            std::fs::read(&newer).unwrap(),
            "newer Switchboard (schema 20991231000000",
        ),
    ] {
        let (status, body) = upload(&api, bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message} should say {says}");
        assert!(message.starts_with("the file"), "{message}");
        assert_eq!(
            api.get("/api/backup/status").await.1["restore_staged"],
            false
        );
    }
    // The damaged file names its damage.
    let (_, body) = upload(&api, damaged.clone()).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("damaged") || message.contains("cannot be read as a database"),
        "{message}"
    );
    // The same through the CLI, with the file's path in the message.
    let damaged_file = tmp.path().join("damaged.sqlite");
    std::fs::write(&damaged_file, &damaged).unwrap();
    for (file, says) in [
        (&foreign, "not a Switchboard database"),
        (&newer, "install that version or newer"),
        (&damaged_file, "damaged.sqlite"),
    ] {
        let out = cli(&dir, &["restore", file.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(text(&out).contains(says), "{}", text(&out));
    }
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restore") || n.contains("upload") || n.contains("partial"))
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "a refused file leaves nothing"
    );
    assert_eq!(
        agent_names(&api).await,
        ["After the backup", "In the backup"],
        "nothing changed"
    );

    let (status, body) = upload(&api, good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["restart_required"], true);
    assert!(body["message"].as_str().unwrap().contains("restarts"));
    assert_eq!(
        api.get("/api/backup/status").await.1["restore_staged"],
        true
    );
    // Staged, not applied: the running engine keeps its database until it restarts, and a
    // CLI restore meanwhile only stages too.
    assert_eq!(agent_names(&api).await.len(), 2);
    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "{log}");

    let (s, api) = started(&dir).await;
    assert_eq!(agent_names(&api).await, ["In the backup"]);
    assert_eq!(
        api.get("/api/backup/status").await.1["restore_staged"],
        false
    );
    let kept: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("switchboard.db.before-restore-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the database before the restore is kept");
    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "{log}");
    // The database set aside is whole, with what was written after the backup: restored
    // in turn, it brings that agent back.
    let out = cli(&dir, &["restore", kept[0].to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (s, api) = started(&dir).await;
    assert_eq!(
        agent_names(&api).await,
        ["After the backup", "In the backup"]
    );
    s.terminate().await;
}

#[tokio::test]
async fn a_database_of_a_newer_switchboard_is_refused_at_start_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (s, api) = started(dir.path()).await;
    api.agent("Kept").await;
    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "{log}");
    match test_database(dir.path()) {
        None => make_newer(&dir.path().join("switchboard.db")).await,
        Some((url, schema)) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(&format!(
                "INSERT INTO {schema}._sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES ($1, 'from the future', true, '\\x00', 1)"
            ))
            .bind(FUTURE)
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
    }
    let out = cli(
        dir.path(),
        &[
            "serve",
            "--control-addr",
            "127.0.0.1:0",
            "--public-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success(), "it must not start");
    let said = text(&out);
    assert!(
        said.contains(
            "this database was last opened by a newer Switchboard (schema 20991231000000"
        ),
        "{said}"
    );
    assert!(said.contains("restore a backup made by this one"), "{said}");
}

#[tokio::test]
async fn a_backup_holds_no_credentials() {
    const KEY: &str = "sk-never-in-a-backup-0123456789";
    const TOOL: &str = "crm-tool-secret-not-backed-up-987";
    let dir = tempfile::tempdir().unwrap();
    if test_database(dir.path()).is_some() {
        return postgres_points_at_pg_dump(dir.path()).await;
    }
    // Secrets in the data directory's secrets.json, where they can be looked for.
    let env = [("SWITCHBOARD_SECRETS_FILE", "true")];
    let s = serve(dir.path(), &env, &[]).await;
    let api = Api::new(s.control.clone(), token(dir.path(), &env));
    let (st, b) = api
        .put("/api/credentials/openai", json!({"api_key": KEY}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, b) = api
        .put("/api/tool-secrets/crm_token", json!({"value": TOOL}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, hook) = api
        .post(
            "/api/webhooks",
            json!({"url": "http://127.0.0.1:9/crm", "events": ["call.ended"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    let signing = hook["secret"].as_str().unwrap().to_owned();
    let (_, bytes) = download(&api).await;
    let (_, status) = api.get("/api/backup/status").await;
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("no credentials")
    );
    let kept = std::fs::read_to_string(dir.path().join("secrets.json")).unwrap();
    for secret in [KEY, TOOL, signing.as_str()] {
        assert!(kept.contains(secret), "{secret} is kept, in secrets.json");
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is not in the backup"
        );
    }
    // What the secrets belong to is: the tool secret's name and the webhook.
    assert!(bytes.windows(9).any(|w| w == b"crm_token"));
    let url = b"http://127.0.0.1:9/crm";
    assert!(bytes.windows(url.len()).any(|w| w == url));
    s.terminate().await;
}
