//! Setups in progress ("new agent with a number"): each one's progress as the saga wrote it,
//! opaque here (JSON), kept until the setup is finished or undone, and the node running it:
//! a setup is abandoned only when that node is dead, and is then undone by one node alone.

use super::Store;
use super::db;
use super::error::Result;
use super::nodes;
use crate::domain::Timestamp;

impl Store {
    /// Records setup `id`'s progress, new or updated, as this node's.
    pub async fn save_setup(&self, id: &str, progress: &str) -> Result<()> {
        let (id, progress) = (id.to_owned(), progress.to_owned());
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "INSERT INTO setups (id, progress, created_at, node_id) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (id) DO UPDATE SET progress = excluded.progress, \
                       node_id = excluded.node_id",
                )
                .bind(&id)
                .bind(&progress)
                .bind(Timestamp::now().as_millis())
                .bind(&node)
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

    /// Takes over the setups whose node is dead at `now` (a crash or a stop cut them short),
    /// oldest first: `(id, progress)`. They are this node's from then on, for it to undo, so
    /// no other node undoes them too, and a live node's setup is never taken.
    pub async fn take_abandoned_setups(&self, now: Timestamp) -> Result<Vec<(String, String)>> {
        // Read first: the leader asks every few seconds, and there is rarely one.
        let any: bool = db::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM setups WHERE {})",
            nodes::dead("node_id")
        ))
        .bind(nodes::oldest_live(now))
        .fetch_one(self.pool())
        .await?;
        if !any {
            return Ok(Vec::new());
        }
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let mut taken: Vec<(String, String, i64)> = db::query_as(&format!(
                    "UPDATE setups SET node_id = ? WHERE {} RETURNING id, progress, created_at",
                    nodes::dead("node_id")
                ))
                .bind(&node)
                .bind(nodes::oldest_live(now))
                .fetch_all(conn)
                .await?;
                taken.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
                Ok(taken.into_iter().map(|(id, p, _)| (id, p)).collect())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn add(store: &Store, id: &str, node: Option<&str>, created_at: i64) {
        let (id, node) = (id.to_owned(), node.map(str::to_owned));
        store
            .write(move |conn| {
                Box::pin(async move {
                    db::query(
                        "INSERT INTO setups (id, progress, created_at, node_id) \
                         VALUES (?, '{}', ?, ?)",
                    )
                    .bind(&id)
                    .bind(created_at)
                    .bind(&node)
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    fn ids(taken: &[(String, String)]) -> Vec<&str> {
        taken.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Only a dead node's setups are taken over to be undone, oldest first, and each by one
    /// node: never a live node's. On PostgreSQL, a second node starting leaves the first's
    /// alone while it lives, two nodes taking over at once share out the dead node's, and a
    /// node's setups go to another once it is dead.
    #[tokio::test]
    async fn only_a_dead_nodes_setups_are_taken_over_and_each_by_one_node() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = Store::nodes_for_test(dir.path()).await.unwrap();
        one.save_setup("mine", r#"{"step":1}"#).await.unwrap();
        add(&one, "gone-2", Some("gone"), 2).await;
        add(&one, "gone-1", None, 1).await;
        let now = Timestamp::now();
        let taken = one.take_abandoned_setups(now).await.unwrap();
        assert_eq!(
            ids(&taken),
            ["gone-1", "gone-2"],
            "the dead node's, oldest first"
        );
        assert!(
            one.take_abandoned_setups(now).await.unwrap().is_empty(),
            "taken over: this node's now, and its own is under way"
        );

        let Some(two) = two else { return };
        assert!(
            two.take_abandoned_setups(now).await.unwrap().is_empty(),
            "a node starting never takes a live node's setup"
        );
        for i in 0..6 {
            add(&one, &format!("dead-{i}"), Some("gone"), 10 + i).await;
        }
        let (x, y) = tokio::join!(
            one.take_abandoned_setups(now),
            two.take_abandoned_setups(now)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut all: Vec<&str> = ids(&x).into_iter().chain(ids(&y)).collect();
        all.sort_unstable();
        assert_eq!(
            all,
            ["dead-0", "dead-1", "dead-2", "dead-3", "dead-4", "dead-5"],
            "each taken once: {x:?} {y:?}"
        );
        two.retire_node(one.node_id()).await.unwrap();
        let taken = two.take_abandoned_setups(now).await.unwrap();
        let mut want: Vec<&str> = vec!["gone-1", "gone-2", "mine"];
        want.extend(ids(&x));
        let mut got = ids(&taken);
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "everything the dead node held");
    }
}
