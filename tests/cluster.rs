//! Several `switchboard serve` nodes on one PostgreSQL (issue 17): real child processes sharing
//! a schema, each with its own data directory and its own public base (`--node-url`, where its
//! calls' media go), all behind one load balancer's base (`--public-url`, where the carriers
//! send every webhook). The Twilio simulator plays the carrier and the load balancer: each
//! callback goes to a node picked at random, and on to another when that one is dead. A
//! campaign is judged from the simulator's log alone (every dial with the node that made it,
//! and the calls it had up at every instant), never from the engine's.
//!
//! These tests need PostgreSQL: `SWITCHBOARD_CLUSTER_DATABASE_URL` names the database (start
//! one with `scripts/postgres.sh`); each test works in a schema of its own and drops it when it
//! passes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::campaigns::{
    agent, campaign, import, lead_phone, leads_csv, settings, wait_for_status, wait_until,
};
use common::carriers::{TWILIO_SID, TWILIO_TOKEN, twilio_signature};
use common::realtime::TEST_API_KEY;
use common::twilio_calls::{Dial, Script, TwilioCalls};
use common::{Api, Serve};
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The load balancer's base: carriers are given it for every webhook.
const LB: &str = "https://lb.sb.example.test";
const TOKEN: &str = "cluster-test-token";
const OUR_NUMBER: &str = "+14155552671";

/// Node `i`'s own public base (its calls' media streams go there).
fn node_url(i: usize) -> String {
    format!("https://node{i}.sb.example.test")
}

/// Where node `i`'s calls' Twilio media streams were to go.
fn node_media(i: usize) -> String {
    format!("wss://node{i}.sb.example.test/media/twilio")
}

/// Which node a dial's media stream named.
fn dialed_by(d: &Dial) -> usize {
    (0..10)
        .find(|i| d.media == node_media(*i))
        .unwrap_or_else(|| panic!("a dial whose media goes to no node: {d:?}"))
}

fn seed() -> u64 {
    let seed = std::env::var("SWITCHBOARD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("drawn with SWITCHBOARD_TEST_SEED={seed}");
    seed
}

/// The PostgreSQL database the nodes share. Never skipped: a cluster test that did not run
/// must not pass.
fn cluster_database() -> String {
    std::env::var("SWITCHBOARD_CLUSTER_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "the cluster tests need PostgreSQL: start one with \
                 `eval \"$(scripts/postgres.sh start)\"` and set \
                 SWITCHBOARD_CLUSTER_DATABASE_URL to its URL (scripts/test.sh does both)"
            )
        })
}

/// `switchboard serve` nodes on one database schema, and the Twilio simulator in front of
/// them.
struct Cluster {
    db: String,
    schema: String,
    twilio: TwilioCalls,
    dirs: Vec<tempfile::TempDir>,
    /// Each node's process while it runs, and its control API.
    nodes: Vec<Option<Serve>>,
    apis: Vec<Api>,
    /// Each node's public listener, for the load balancer (a dead node's stays: it refuses).
    publics: Vec<String>,
    log: &'static str,
    /// Where each node keeps secrets: `--no-keyring` (nowhere: credentials from the
    /// environment) or `--secrets-file` (a file in its data directory).
    secrets: &'static str,
}

impl Cluster {
    /// Starts `n` nodes. The first starts alone (it makes the schema, and so leads); the rest
    /// start together once it is up.
    async fn start(
        n: usize,
        twilio: TwilioCalls,
        log: &'static str,
        secrets: &'static str,
    ) -> Self {
        let db = cluster_database();
        let schema = format!("cl_{:012x}", rand::random::<u64>() >> 16);
        eprintln!("cluster schema {schema}");
        let mut cluster = Self {
            db,
            schema,
            twilio,
            dirs: (0..n).map(|_| tempfile::tempdir().unwrap()).collect(),
            nodes: Vec::new(),
            apis: Vec::new(),
            publics: Vec::new(),
            log,
            secrets,
        };
        let first = cluster.launch(0).await;
        let rest = futures_util::future::join_all((1..n).map(|i| cluster.launch(i))).await;
        for serve in std::iter::once(first).chain(rest) {
            cluster
                .apis
                .push(Api::new(serve.control.clone(), TOKEN.into()));
            cluster.publics.push(serve.public.clone());
            cluster.nodes.push(Some(serve));
        }
        cluster.twilio.deliver_to_any(&cluster.publics);
        cluster
    }

    /// Runs node `i` on its data directory.
    async fn launch(&self, i: usize) -> Serve {
        let node = node_url(i);
        let envs = [
            ("DATABASE_URL", self.db.as_str()),
            ("SWITCHBOARD_DATABASE_SCHEMA", self.schema.as_str()),
            ("TWILIO_ACCOUNT_SID", TWILIO_SID),
            ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
            ("OPENAI_API_KEY", TEST_API_KEY),
            ("SWITCHBOARD_TOKEN", TOKEN),
            ("WEBHOOK_BASE_URL", LB),
            ("SWITCHBOARD_NODE_URL", node.as_str()),
            ("SWITCHBOARD_LOG", self.log),
        ];
        let extra = [self.secrets, "--twilio-api-url", self.twilio.base.as_str()];
        common::serve(self.dirs[i].path(), &envs, &extra).await
    }

    fn api(&self, i: usize) -> &Api {
        &self.apis[i]
    }

    /// SIGKILLs node `i` and waits for it to be gone; returns what it logged.
    async fn kill(&mut self, i: usize) -> String {
        let mut serve = self.nodes[i].take().expect("the node runs");
        serve.child.start_kill().unwrap();
        serve.child.wait().await.unwrap();
        serve.stderr.await.unwrap()
    }

    /// Starts node `i` again on its data directory (a new node to the others).
    async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} still runs");
        let serve = self.launch(i).await;
        self.apis[i] = Api::new(serve.control.clone(), TOKEN.into());
        self.publics[i] = serve.public.clone();
        self.nodes[i] = Some(serve);
        self.twilio.deliver_to_any(&self.publics);
    }

    async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.db)
            .await
            .expect("the test connects to the cluster's database")
    }

    /// The `nodes` rows: (url, started_at, seen_at), oldest first.
    async fn node_rows(&self, pool: &sqlx::PgPool) -> Vec<(Option<String>, i64, i64)> {
        sqlx::query_as(&format!(
            "SELECT url, started_at, seen_at FROM {}.nodes ORDER BY started_at, id",
            self.schema
        ))
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// Stops every node still running (each must exit cleanly), returning what each logged,
    /// then drops the schema.
    async fn stop(mut self) -> Vec<Option<String>> {
        let mut logs = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            logs.push(match node.take() {
                Some(serve) => {
                    let (status, log) = serve.terminate().await;
                    assert!(status.success(), "node {i} exited with {status}:\n{log}");
                    Some(log)
                }
                None => None,
            });
        }
        let pool = self.pool().await;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&pool)
            .await
            .unwrap();
        logs
    }
}

async fn number(api: &Api) -> String {
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    n["id"].as_str().unwrap().to_owned()
}

/// Every lead of a campaign, by phone, read page by page (a page holds at most 500).
async fn all_leads(api: &Api, campaign: &str) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    loop {
        let (s, page) = api
            .get(&format!(
                "/api/campaigns/{campaign}/leads?limit=500&offset={}",
                out.len()
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        for l in items {
            out.insert(l["phone"].as_str().unwrap().to_owned(), l.clone());
        }
        if items.is_empty() || out.len() as i64 >= page["total"].as_i64().unwrap() {
            return out;
        }
    }
}

/// Calls the log counts live (queued, ringing, in progress).
async fn live_calls(api: &Api) -> Vec<Value> {
    let (s, page) = api.get("/api/calls?status=live&limit=500").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn retried(s: &Script) -> bool {
    matches!(
        s,
        Script::Busy | Script::NoAnswer | Script::Fail | Script::Refuse
    )
}

/// Judges every lead dialed from the simulator's log: dialed again only after an outcome that
/// is retried, at most `max_attempts` times, not given up before that; its state (`leads`, by
/// phone, from the API) agrees. Node `dead` led until it was killed with at most `slots`
/// attempts under way. Returns how many attempts were given back (see below).
fn judge_leads(
    dials: &[Dial],
    leads: &HashMap<String, Value>,
    dead: usize,
    slots: usize,
    max_attempts: usize,
) -> usize {
    // A dial the carrier refused places no call: if the leader died before hearing the
    // refusal, the survivors find no call at the carrier and rightly give the lead its attempt
    // back (it was never placed). Such dials can only be among the dead leader's last ones, at
    // most as many as the campaign had slots (each attempt under way holds one).
    let led: Vec<usize> = (0..dials.len())
        .filter(|i| dialed_by(&dials[*i]) == dead)
        .collect();
    let maybe_unheard: Vec<usize> = led[led.len().saturating_sub(slots)..]
        .iter()
        .copied()
        .filter(|i| dials[*i].script == Script::Refuse)
        .collect();

    // Per lead: the outcomes of its dials in order, and how many may not count as attempts.
    let mut by_lead: HashMap<String, (Vec<Script>, usize)> = HashMap::new();
    for (i, d) in dials.iter().enumerate() {
        let (all, unheard) = by_lead.entry(d.to.clone()).or_default();
        all.push(d.script);
        *unheard += usize::from(maybe_unheard.contains(&i));
    }
    assert_eq!(
        by_lead.len(),
        leads.len(),
        "every lead was dialed (none lost), and only leads"
    );
    let mut given_back = 0;
    for (phone, (dials, unheard)) in &by_lead {
        let lead = leads
            .get(phone)
            .unwrap_or_else(|| panic!("{phone} was dialed but is none of the leads"));
        let attempts = lead["attempts"].as_u64().unwrap() as usize;
        assert!(
            (dials.len() - unheard..=dials.len()).contains(&attempts),
            "{phone}: its attempts are its dials (but for a refusal the dead leader may not \
             have heard): {lead} vs {dials:?}"
        );
        given_back += dials.len() - attempts;
        let (last, before) = dials.split_last().unwrap();
        assert!(
            attempts <= max_attempts && before.iter().all(retried),
            "{phone} was dialed again after an outcome that does not retry, or too often: \
             {dials:?}"
        );
        assert!(
            !retried(last) || attempts == max_attempts,
            "{phone} was given up before its attempts ran out: {dials:?}"
        );
        let (status, outcome) = match last {
            Script::Answer { .. } => ("done", "answered"),
            Script::Busy => ("failed", "busy"),
            Script::NoAnswer => ("failed", "no_answer"),
            Script::Voicemail { .. } => ("failed", "voicemail"),
            Script::Fail | Script::Refuse => ("failed", "failed"),
        };
        assert_eq!(lead["status"], status, "{phone}: {lead} vs {dials:?}");
        assert_eq!(
            lead["last_outcome"], outcome,
            "{phone}: {lead} vs {dials:?}"
        );
    }
    given_back
}

#[tokio::test]
async fn a_campaign_across_three_nodes_dials_every_lead_once_and_keeps_its_limits_when_the_leader_is_killed()
 {
    let seed = seed();
    let began = Instant::now();
    let twilio = TwilioCalls::start(LB, "http://unset").await;
    twilio.randomize(seed);
    let mut cluster = Cluster::start(3, twilio.clone(), "info", "--no-keyring").await;
    let pool = cluster.pool().await;
    let rows = cluster.node_rows(&pool).await;
    let mut urls: Vec<String> = rows.iter().filter_map(|r| r.0.clone()).collect();
    assert_eq!(
        urls.first(),
        Some(&node_url(0)),
        "the first node started registers first"
    );
    urls.sort();
    assert_eq!(
        urls,
        (0..3).map(node_url).collect::<Vec<_>>(),
        "each node registers with its own public base"
    );

    // Set up through different nodes: they share one database.
    let limits: [(&str, u32); 3] = [("A", 6), ("B", 4), ("C", 3)];
    let mut agents = Vec::new();
    for (i, (name, max)) in limits.iter().enumerate() {
        agents.push(agent(cluster.api(i), name, *max, "").await);
    }
    let number = number(cluster.api(1)).await;
    let (n, max_attempts, campaign_max) = (1_000, 3, 10);
    let id = campaign(
        cluster.api(2),
        json!({"name": "Cluster", "number_ids": [number],
               "agents": agents.iter().map(|a| json!({"agent_id": a})).collect::<Vec<_>>(),
               "settings": settings(json!({"calls_per_second": 60.0,
                   "max_concurrent_calls": campaign_max, "strategy": "round_robin",
                   "retry": {"retry_on": ["busy", "no_answer", "failed"],
                             "max_attempts": max_attempts, "delay_secs": 0}}))}),
    )
    .await;
    let imported = import(cluster.api(2), &id, &leads_csv(n)).await;
    assert_eq!(imported["imported"], n, "{imported}");
    // Started through a node that does not lead: the leader picks it up.
    let (s, body) = cluster
        .api(1)
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // About 1.56 dials a lead are to be expected (40% of outcomes are retried, up to 3 times):
    // n/2 is about a third of them.
    wait_until("a third of the dials", Duration::from_secs(60), || {
        twilio.dials().len() >= n / 2
    })
    .await;
    let _ = cluster.kill(0).await;
    let (killed_at, at_kill, up_at_kill) = (Instant::now(), twilio.dials().len(), twilio.up_now());
    eprintln!(
        "leader killed after {at_kill} dials, {up_at_kill} calls up, {:.1} s in",
        began.elapsed().as_secs_f64()
    );

    let done = wait_for_status(cluster.api(1), &id, "completed", Duration::from_secs(120)).await;
    eprintln!(
        "campaign completed, {} dials, {:.1} s in",
        twilio.dials().len(),
        began.elapsed().as_secs_f64()
    );
    assert!(
        at_kill < twilio.dials().len(),
        "the kill came mid-campaign ({at_kill} dialed before it)"
    );
    // The dead node's calls are squared with the carrier: none stays live, in the log or at
    // the carrier.
    let mut live = Vec::new();
    for _ in 0..100 {
        live = live_calls(cluster.api(2)).await;
        if live.is_empty() && twilio.up_now() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live.is_empty(), "calls left live in the log: {live:?}");
    assert_eq!(twilio.up_now(), 0, "calls left up at the carrier");

    let dials = twilio.dials();
    // One node dials at a time: the first started until it died, then one survivor.
    let by_node: Vec<usize> = dials.iter().map(dialed_by).collect();
    assert!(
        by_node[..at_kill].iter().all(|i| *i == 0),
        "the first node started leads until it is killed"
    );
    if let Some(first) = dials.iter().find(|d| dialed_by(d) != 0) {
        eprintln!(
            "the new leader's first dial came {} ms after the kill",
            first.at.saturating_duration_since(killed_at).as_millis()
        );
    }
    let after: Vec<usize> = by_node.iter().copied().skip_while(|i| *i == 0).collect();
    assert!(
        !after.is_empty() && after.iter().all(|i| *i == after[0]),
        "one survivor took the lead and only it dialed (no dial of the dead node after its \
         successor's first): {:?}",
        after.iter().fold(BTreeMap::new(), |mut m, i| {
            *m.entry(*i).or_insert(0) += 1;
            m
        })
    );

    let leads = all_leads(cluster.api(2), &id).await;
    assert!(
        leads.len() == n && (0..n).all(|i| leads.contains_key(&lead_phone(i))),
        "the campaign's leads are the {n} imported"
    );
    let given_back = judge_leads(&dials, &leads, 0, campaign_max, max_attempts);
    eprintln!("attempts given back for refusals the dead leader did not hear: {given_back}");

    // The limits, at every instant, across all nodes: the carrier's own count.
    let max_up = twilio.max_up();
    let per_agent = twilio.max_up_per_agent();
    eprintln!("most calls up at once: {max_up} (limit {campaign_max}); per agent {per_agent:?}");
    assert!(
        max_up <= campaign_max,
        "the campaign's limit of {campaign_max} calls at once was broken: {max_up}"
    );
    for (a, (name, max)) in agents.iter().zip(limits) {
        let most = per_agent.get(a).copied().unwrap_or(0);
        assert!(
            most <= max as usize,
            "agent {name}'s limit of {max} calls at once was broken: {most}"
        );
    }
    assert_eq!(done["progress"]["leads"]["total"], n);
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
    cluster.stop().await;
    eprintln!("took {:.1} s", began.elapsed().as_secs_f64());
}

/// A Twilio form webhook signed for its public URL (the load balancer's), sent straight to a
/// node's public listener; returns the status and body.
async fn twilio_webhook(
    http: &reqwest::Client,
    node: &str,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String) {
    let signature = twilio_signature(TWILIO_TOKEN, &format!("{LB}{path_and_query}"), params);
    let res = http
        .post(format!("{node}{path_and_query}"))
        .header("x-twilio-signature", signature)
        .form(params)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Twilio's `Timestamp` (RFC 2822, whole seconds) and the engine's rendering of the same
/// instant, `secs` after `start`.
fn instant(start: jiff::Timestamp, secs: i64) -> (String, String) {
    let t = jiff::Timestamp::from_second(start.as_second() + secs).unwrap();
    let rfc2822 = jiff::fmt::rfc2822::to_string(&t.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
    (rfc2822, format!("{t:.3}"))
}

#[tokio::test]
async fn webhooks_for_one_call_arriving_at_different_nodes_in_any_order_leave_one_correct_record() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let began = Instant::now();
    let twilio = TwilioCalls::start(LB, "http://unset").await;
    // The test plays the carrier's reports itself.
    twilio.mute(true);
    twilio.default_script(Script::Answer {
        talk: Duration::from_secs(600),
    });
    // A webhook endpoint's signing secret is kept in a secrets file: the events it wants are
    // written for every call, and must be written once.
    let cluster = Cluster::start(3, twilio.clone(), "warn", "--secrets-file").await;
    let http = reqwest::Client::new();
    let (s, hook) = cluster
        .api(2)
        .post(
            "/api/webhooks",
            json!({"url": "http://127.0.0.1:9/crm", "events": ["call.started", "call.ended"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let agent_id = agent(cluster.api(0), "Both ways", 20, "").await;
    let (s, num) = cluster
        .api(1)
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio",
                   "inbound_agent_id": agent_id, "outbound_agent_id": agent_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{num}");
    let number_id = num["id"].as_str().unwrap().to_owned();

    // Six calls, three each way: (our id, Twilio's id, where its status callbacks go).
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for k in 0..3 {
        let sid = format!("CA{:032x}", rand::random::<u128>());
        let caller = format!("+1415867530{k}");
        let voice = [
            ("AccountSid", TWILIO_SID),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", sid.as_str()),
            ("CallStatus", "ringing"),
            ("Called", OUR_NUMBER),
            ("Caller", caller.as_str()),
            ("Direction", "inbound"),
            ("From", caller.as_str()),
            ("To", OUR_NUMBER),
        ];
        // Answered by one node, Twilio's retry of the same webhook landing on another.
        let answering = rng.random_range(0..3);
        let (s, twiml) = twilio_webhook(
            &http,
            &cluster.publics[answering],
            "/webhooks/twilio/voice",
            &voice,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{twiml}");
        assert!(
            twiml.contains(&format!("<Stream url=\"{}", node_media(answering))),
            "the media stream goes to the node that answered (node {answering}): {twiml}"
        );
        let retry_at = (answering + 1 + rng.random_range(0..2)) % 3;
        let (s, again) = twilio_webhook(
            &http,
            &cluster.publics[retry_at],
            "/webhooks/twilio/voice",
            &voice,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert!(again.contains("<Connect><Stream"), "{again}");
        let (_, page) = cluster.api(retry_at).get("/api/calls?limit=500").await;
        let ours: Vec<&Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["carrier_call_id"] == sid.as_str())
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "a retried voice webhook makes no second call"
        );
        let id = ours[0]["id"].as_str().unwrap().to_owned();
        calls.push((id, sid, "/webhooks/twilio/status".to_owned()));
    }
    for k in 0..3 {
        let via = rng.random_range(0..3);
        let (s, call) = cluster
            .api(via)
            .post(
                "/api/calls/outbound",
                json!({"from_number_id": number_id, "to": lead_phone(k), "agent_id": agent_id}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{call}");
        let id = call["id"].as_str().unwrap().to_owned();
        let dial = twilio
            .dials()
            .into_iter()
            .find(|d| d.call_id == id)
            .expect("the carrier was asked to place the call");
        assert_eq!(
            dial.media,
            node_media(via),
            "an outbound call's media go to the node that placed it"
        );
        let status = format!("/webhooks/twilio/status?call_id={id}");
        calls.push((id, dial.carrier_call_id, status));
    }

    // Each call's reports: ringing, answered, completed after 42 s; one of them twice. Sent in
    // a shuffled order, each to a node picked at random (the last call each way: all at once,
    // racing each other on their nodes); the calls all at once.
    let start = jiff::Timestamp::now();
    let (answered_2822, answered_3339) = instant(start, 18);
    let (ended_2822, ended_3339) = instant(start, 60);
    let mut plans = Vec::new();
    for (i, (id, sid, path)) in calls.iter().enumerate() {
        let together = i % 3 == 2;
        let direction = if path.contains("call_id") {
            "outbound-api"
        } else {
            "inbound"
        };
        let report = |status: &str, seq: &str, extra: &[(&str, &str)]| {
            let mut p: Vec<(String, String)> = [
                ("AccountSid", TWILIO_SID),
                ("CallSid", sid.as_str()),
                ("CallStatus", status),
                ("Direction", direction),
                ("SequenceNumber", seq),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            p.sort();
            p
        };
        let mut reports = vec![
            report("ringing", "0", &[]),
            report("in-progress", "1", &[("Timestamp", answered_2822.as_str())]),
            report(
                "completed",
                "2",
                &[("CallDuration", "42"), ("Timestamp", ended_2822.as_str())],
            ),
        ];
        let again = reports[rng.random_range(0..3)].clone();
        reports.push(again);
        reports.shuffle(&mut rng);
        let plan: Vec<(usize, Vec<(String, String)>)> = reports
            .into_iter()
            .map(|r| (rng.random_range(0..3), r))
            .collect();
        eprintln!(
            "{id}{}: {:?}",
            if together { " (all at once)" } else { "" },
            plan.iter()
                .map(|(node, r)| format!(
                    "{} to node {node}",
                    r.iter().find(|(k, _)| k == "CallStatus").unwrap().1
                ))
                .collect::<Vec<_>>()
        );
        plans.push((path.clone(), plan, together));
    }
    let publics = &cluster.publics;
    let deliver = |node: usize, path: &str, params: &[(String, String)]| {
        let http = http.clone();
        let pairs: Vec<(String, String)> = params.to_vec();
        let (node, path) = (publics[node].clone(), path.to_owned());
        async move {
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let (s, body) = twilio_webhook(&http, &node, &path, &pairs).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
        }
    };
    futures_util::future::join_all(plans.iter().map(|(path, plan, together)| async move {
        if *together {
            futures_util::future::join_all(plan.iter().map(|(n, p)| deliver(*n, path, p))).await;
        } else {
            for (n, p) in plan {
                deliver(*n, path, p).await;
            }
        }
    }))
    .await;

    let pool = cluster.pool().await;
    let schema = &cluster.schema;
    for (id, sid, _) in &calls {
        let mut seen = Vec::new();
        for node in 0..3 {
            let (s, call) = cluster.api(node).get(&format!("/api/calls/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{call}");
            seen.push(call);
        }
        let call = &seen[0];
        assert!(
            seen.iter().all(|c| c == call),
            "every node reads the same record: {seen:#?}"
        );
        assert_eq!(call["status"], "completed", "{call}");
        assert_eq!(call["duration_secs"], 42, "the carrier's duration: {call}");
        assert_eq!(call["answered_at"], answered_3339.as_str(), "{call}");
        assert_eq!(call["ended_at"], ended_3339.as_str(), "{call}");
        assert_eq!(call["carrier_call_id"], sid.as_str());

        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {schema}.calls WHERE carrier_call_id = $1"
        ))
        .bind(sid)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(rows, 1, "one record per call");
        let applied: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {schema}.carrier_events WHERE event_key LIKE $1"
        ))
        .bind(format!("{sid}%"))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            applied <= 3,
            "each of the three reports is applied at most once (the duplicate is not): \
             {applied}"
        );
        let doubled: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT type, count(*) FROM {schema}.webhook_events WHERE call_id = $1 \
             GROUP BY type HAVING count(*) > 1"
        ))
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(doubled.is_empty(), "events written twice: {doubled:?}");
        let ended: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {schema}.webhook_events WHERE call_id = $1 \
             AND type = 'call.ended'"
        ))
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(ended, 1, "the call's end is an event, once");
        let started: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {schema}.webhook_events WHERE call_id = $1 \
             AND type = 'call.started'"
        ))
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(started, 1, "the call's answer is an event, once");
        let lines: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT speaker, text, count(*) FROM {schema}.transcript_lines WHERE call_id = $1 \
             GROUP BY speaker, text HAVING count(*) > 1"
        ))
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(
            lines.is_empty(),
            "transcript lines written twice: {lines:?}"
        );
    }
    assert!(
        live_calls(cluster.api(0)).await.is_empty(),
        "every call ended"
    );
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
    cluster.stop().await;
    eprintln!("took {:.1} s", began.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_node_restarted_on_its_data_dir_rejoins_and_takes_the_lead_when_the_leader_dies() {
    let seed = seed();
    let began = Instant::now();
    let twilio = TwilioCalls::start(LB, "http://unset").await;
    twilio.randomize(seed);
    let mut cluster = Cluster::start(2, twilio.clone(), "info", "--no-keyring").await;
    let pool = cluster.pool().await;

    // The leader dies; node 1 takes the lead (within a second); node 0 comes back on its data
    // directory, a follower now.
    cluster.kill(0).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    cluster.restart(0).await;
    let rows = cluster.node_rows(&pool).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let back: Vec<_> = rows
        .iter()
        .filter(|r| r.0.as_deref() == Some(node_url(0).as_str()))
        .collect();
    assert_eq!(
        back.len(),
        2,
        "the restarted node is a new node beside its dead self: {rows:?}"
    );
    assert!(
        now - back[1].2 < 3_000,
        "its heartbeat is fresh: {rows:?} at {now}"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let later = cluster.node_rows(&pool).await;
    let renewed = later
        .iter()
        .filter(|r| r.0.as_deref() == Some(node_url(0).as_str()))
        .map(|r| r.2)
        .max()
        .unwrap();
    assert!(renewed > back[1].2, "it renews its heartbeat: {later:?}");

    // A campaign runs on node 1, the leader now; it dies in the middle and node 0 (restarted)
    // carries the campaign on.
    let a = agent(cluster.api(0), "A", 3, "").await;
    let number = number(cluster.api(0)).await;
    let (n, max_attempts) = (60, 3);
    let id = campaign(
        cluster.api(0),
        json!({"name": "Rejoin", "agents": [{"agent_id": a}], "number_ids": [number],
               "settings": settings(json!({"calls_per_second": 20.0, "max_concurrent_calls": 3,
                   "retry": {"retry_on": ["busy", "no_answer", "failed"],
                             "max_attempts": max_attempts, "delay_secs": 0}}))}),
    )
    .await;
    import(cluster.api(0), &id, &leads_csv(n)).await;
    let (s, _) = cluster
        .api(0)
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    wait_until(
        "a third of the leads dialed",
        Duration::from_secs(30),
        || twilio.dials().len() >= n / 3,
    )
    .await;
    cluster.kill(1).await;
    let at_kill = twilio.dials().len();
    wait_for_status(cluster.api(0), &id, "completed", Duration::from_secs(60)).await;

    let dials = twilio.dials();
    let by_node: Vec<usize> = dials.iter().map(dialed_by).collect();
    assert!(
        by_node[..at_kill].iter().all(|i| *i == 1),
        "node 1 led while it lived"
    );
    assert!(
        by_node[at_kill..].contains(&0),
        "the rejoined node took the lead and dialed"
    );
    let leads = all_leads(cluster.api(0), &id).await;
    assert_eq!(leads.len(), n);
    judge_leads(&dials, &leads, 1, 3, max_attempts);
    assert!(twilio.max_up() <= 3, "{}", twilio.max_up());
    let logs = cluster.stop().await;
    let log = logs[0].as_deref().unwrap();
    assert!(
        log.contains("this node leads the campaigns now"),
        "the rejoined node says it took the lead:\n{log}"
    );
    eprintln!("took {:.1} s", began.elapsed().as_secs_f64());
}
