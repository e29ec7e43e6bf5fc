//! Plain key/value settings. Secrets never come here: they live in the keyring.

use super::db;
use std::collections::BTreeMap;

use super::Store;
use super::error::Result;

impl Store {
    pub async fn settings(&self) -> Result<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = db::query_as("SELECT key, value FROM settings")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Writes all changes at once: `None` removes a key.
    pub async fn write_settings(&self, changes: &[(&str, Option<String>)]) -> Result<()> {
        let changes: Vec<(String, Option<String>)> = changes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.write(move |conn| {
            Box::pin(async move {
                for (key, value) in &changes {
                    match value {
                        Some(v) => {
                            db::query(
                                "INSERT INTO settings (key, value) VALUES (?, ?) \
                                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            )
                            .bind(key)
                            .bind(v)
                            .execute(&mut *conn)
                            .await?;
                        }
                        None => {
                            db::query("DELETE FROM settings WHERE key = ?")
                                .bind(key)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                }
                Ok(())
            })
        })
        .await
    }
}
