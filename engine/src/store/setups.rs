//! Setups in progress ("new agent with a number"): each one's progress as the saga wrote it,
//! opaque here (JSON), kept until the setup is finished or undone.

use super::Store;
use super::db;
use super::error::Result;
use crate::domain::Timestamp;

impl Store {
    /// Records setup `id`'s progress, new or updated.
    pub async fn save_setup(&self, id: &str, progress: &str) -> Result<()> {
        let (id, progress) = (id.to_owned(), progress.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "INSERT INTO setups (id, progress, created_at) VALUES (?, ?, ?) \
                     ON CONFLICT (id) DO UPDATE SET progress = excluded.progress",
                )
                .bind(&id)
                .bind(&progress)
                .bind(Timestamp::now().as_millis())
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Forgets setup `id`: finished or undone.
    pub async fn forget_setup(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query("DELETE FROM setups WHERE id = ?")
                    .bind(&id)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Every setup begun before `before` and left unfinished, oldest first: `(id, progress)`.
    pub async fn unfinished_setups(&self, before: Timestamp) -> Result<Vec<(String, String)>> {
        db::query_as("SELECT id, progress FROM setups WHERE created_at < ? ORDER BY created_at, id")
            .bind(before.as_millis())
            .fetch_all(self.pool())
            .await
    }
}
