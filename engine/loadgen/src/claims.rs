//! Lead claims, the campaign's one write that must never go wrong twice: several stores (one
//! per node, as `switchboard serve` opens them) on one database claim a campaign's leads as
//! fast as they can, each claim timed; each claimed attempt is then settled (never placed) so
//! its lead is done. Reports claim latency and claims a second, and fails if any lead was
//! claimed twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::domain::{NewLead, Outcome, Timestamp};
use switchboard::store::leads::{Claim, NoClaim};
use switchboard::store::{PgSettings, Store};

use super::Percentiles;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// A PostgreSQL database (a fresh schema of its own is made there); without it, the
    /// embedded SQLite store in a temporary directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Stores claiming at once, as that many nodes would (PostgreSQL only, beyond one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub nodes: u32,
    /// Claims each node makes at once (a campaign task claims one at a time; several
    /// campaigns claim side by side).
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    /// Leads in the campaign, each claimed once.
    #[arg(long, default_value_t = 5_000)]
    pub leads: u32,
}

#[derive(Debug)]
pub struct Report {
    pub store: &'static str,
    pub nodes: u32,
    pub claimed: usize,
    pub elapsed: Duration,
    pub latency: Option<Percentiles>,
    pub twice: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}, {} node(s): {} leads claimed in {:.1} s ({:.0} claims/s), {} twice",
            self.store,
            self.nodes,
            self.claimed,
            self.elapsed.as_secs_f64(),
            self.claimed as f64 / self.elapsed.as_secs_f64(),
            self.twice
        )?;
        if let Some(l) = self.latency {
            write!(f, "claim: {l}")?;
        }
        Ok(())
    }
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(
        opts.nodes == 1 || opts.database_url.is_some(),
        "several nodes share a PostgreSQL database: give --database-url"
    );
    let dir = super::tempfile_dir()?;
    let schema = format!("claims_{}", std::process::id());
    let mut stores = Vec::new();
    for _ in 0..opts.nodes {
        stores.push(match &opts.database_url {
            Some(url) => {
                Store::open_postgres(&PgSettings {
                    url: url.clone(),
                    schema: Some(schema.clone()),
                })
                .await?
            }
            None => Store::open(&dir).await?,
        });
    }
    let store = &stores[0];
    let agent = store
        .create_agent(serde_json::from_value(
            json!({"name": "Claims", "max_concurrent_calls": 1000}),
        )?)
        .await?;
    let number = store
        .create_phone_number(
            serde_json::from_value(json!({"number": "+14155552671", "carrier": "twilio"}))?,
            None,
        )
        .await?;
    let campaign = store
        .create_campaign(serde_json::from_value(json!({
            "name": "Claims", "agents": [{"agent_id": agent.id}], "number_ids": [number.id],
            "settings": {"max_concurrent_calls": 1000, "calls_per_second": 100.0,
                "window": null, "retry": {"retry_on": [], "max_attempts": 1, "delay_secs": 0},
                "voicemail": {"action": "hang_up"}, "strategy": "primary_first",
                "default_region": null}
        }))?)
        .await?;
    let leads = (0..opts.leads)
        .map(|i| {
            Ok(NewLead {
                line: Some(i64::from(i)),
                name: format!("Lead {i}"),
                phone: serde_json::from_value(json!(format!("+1415{:07}", 2_000_000 + i)))?,
                email: None,
                time_zone: None,
                fields: serde_json::Map::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store.add_leads(&campaign.id, leads).await?;

    let claim = Arc::new(Claim {
        campaign_id: campaign.id.clone(),
        agent_id: agent.id.clone(),
        agent_max: 1000,
        campaign_max: 1000,
        number_id: number.id.clone(),
        from: number.number.clone(),
        carrier: number.carrier,
        now: Timestamp::now(),
        // Every lead is in area code 415; its hours count as open: this measures the claim's
        // write, not the calling hours (the dialer judges those before it claims).
        open_zones: vec!["America/Los_Angeles".to_owned()],
    });
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for store in &stores {
        for _ in 0..opts.workers {
            let (store, claim) = (store.clone(), claim.clone());
            tasks.spawn(async move {
                let mut took = Vec::new();
                let mut leads = Vec::new();
                loop {
                    let asked = Instant::now();
                    let got = store.claim_lead((*claim).clone()).await?;
                    took.push(asked.elapsed());
                    match got {
                        Ok(c) => {
                            leads.push(c.lead.id);
                            store
                                .end_unplaced_call(&c.call.id, Outcome::Unknown, "claims benchmark")
                                .await?;
                        }
                        Err(NoClaim::NothingDue(_)) => break,
                        Err(other) => anyhow::bail!("claim refused: {other:?}"),
                    }
                }
                anyhow::Ok((took, leads))
            });
        }
    }
    let mut took = Vec::new();
    let mut leads = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (t, l) = done??;
        took.extend(t);
        leads.extend(l);
    }
    let elapsed = started.elapsed();
    let distinct: HashSet<i64> = leads.iter().copied().collect();
    for s in &stores {
        s.close().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Report {
        store: if opts.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        nodes: opts.nodes,
        claimed: leads.len(),
        elapsed,
        latency: Percentiles::of(&mut took),
        twice: leads.len() - distinct.len(),
    })
}
