//! `switchboard call --agent NAME`: a test call from a terminal. It goes the way the Test Call
//! page goes, through the control API of the engine already running (or of one it runs for
//! the call), so the same devices, settings and record apply; the transcript is printed as it
//! comes, and Ctrl-C ends the call.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::Config;
use tokio_tungstenite::tungstenite::Message;

#[derive(Args)]
pub struct CallArgs {
    /// The agent to talk to: its name (any case) or id.
    #[arg(long)]
    agent: String,
    /// Behave as an outbound call: the agent waits for you to speak first.
    #[arg(long)]
    agent_waits: bool,
    /// How the agent is kept from hearing itself [default: the Settings choice].
    #[arg(long, value_enum)]
    echo: Option<Echo>,
    #[command(flatten)]
    config: Config,
}

#[derive(Clone, Copy, ValueEnum)]
enum Echo {
    Cancel,
    Headphones,
    HalfDuplex,
}

impl Echo {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Headphones => "headphones",
            Self::HalfDuplex => "half_duplex",
        }
    }
}

/// How long to wait for the call's end once Ctrl-C has asked for it.
const ENDING: Duration = Duration::from_secs(10);

pub async fn run(args: CallArgs) -> anyhow::Result<()> {
    let token = crate::token_for(&args.config).await?;
    let http = reqwest::Client::new();
    let mut base = format!("http://{}", args.config.control_addr);
    // An engine already running owns the devices and the database: use it. Otherwise run
    // one for the length of the call.
    let own = match http
        .get(format!("{base}/api/settings"))
        .bearer_auth(&token)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => bail!(
            "another program answers at {base} ({}); stop it or pass --control-addr",
            r.status()
        ),
        Err(_) => {
            let running = switchboard::start(args.config.clone())
                .await
                .context("cannot start the engine")?;
            base = format!("http://{}", running.control_addr());
            Some(running)
        }
    };
    let outcome = call(&http, &base, &token, &args).await;
    if let Some(running) = own {
        running.shutdown().await;
    }
    outcome
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    args: &CallArgs,
) -> anyhow::Result<()> {
    let agents: Vec<Value> = answer(http.get(format!("{base}/api/agents")).bearer_auth(token))
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let wanted = args.agent.trim();
    let Some(agent) = agents.iter().find(|a| {
        a["id"] == wanted
            || a["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
    }) else {
        let names: Vec<&str> = agents.iter().filter_map(|a| a["name"].as_str()).collect();
        bail!(
            "no agent named {wanted:?}; the agents are: {}",
            if names.is_empty() {
                "(none yet)".to_owned()
            } else {
                names.join(", ")
            }
        );
    };
    let agent_name = agent["name"].as_str().unwrap_or(wanted).to_owned();

    // Listen before starting, so no line is missed.
    let ws_url = format!(
        "{}/api/events?access_token={token}",
        base.replacen("http://", "ws://", 1)
    );
    let (mut events, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .context("cannot open the engine's event stream")?;

    let mut body = json!({
        "agent_id": agent["id"],
        "agent_speaks_first": !args.agent_waits,
    });
    if let Some(echo) = args.echo {
        body["echo_mode"] = json!(echo.as_str());
    }
    let call = answer(
        http.post(format!("{base}/api/test-calls"))
            .bearer_auth(token)
            .json(&body),
    )
    .await?;
    let call_id = call["id"].as_str().unwrap_or_default().to_owned();
    println!("Test call with {agent_name} ({call_id}): speak now. Ctrl-C ends the call.");

    let interrupt = crate::shutdown_signal();
    tokio::pin!(interrupt);
    let mut deadline = None;
    loop {
        let event = tokio::select! {
            () = &mut interrupt, if deadline.is_none() => {
                println!("Ending the call…");
                answer(
                    http.post(format!("{base}/api/calls/{call_id}/hangup")).bearer_auth(token),
                )
                .await?;
                deadline = Some(tokio::time::Instant::now() + ENDING);
                continue;
            }
            () = sleep_until(deadline) => bail!("the call did not end within {} s", ENDING.as_secs()),
            e = events.next() => e,
        };
        let Some(Ok(Message::Text(text))) = event else {
            match event {
                Some(Ok(_)) => continue,
                _ => bail!("the engine's event stream closed"),
            }
        };
        let Ok(e) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match e["type"].as_str() {
            Some("transcript_line") if e["line"]["call_id"] == call_id.as_str() => {
                let who = match e["line"]["speaker"].as_str() {
                    Some("caller") => "You",
                    Some("agent") => agent_name.as_str(),
                    Some("operator") => "Operator",
                    _ => "System",
                };
                println!("{who}: {}", e["line"]["text"].as_str().unwrap_or_default());
            }
            Some("call_updated")
                if e["call"]["id"] == call_id.as_str() && !e["call"]["ended_at"].is_null() =>
            {
                match e["call"]["hangup_cause"].as_str() {
                    Some(cause) => println!("Call ended: {cause}."),
                    None => println!("Call ended."),
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

/// The JSON body of a successful answer; an error answer becomes its message.
async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("the engine did not answer")?;
    let status = response.status();
    let body: Value = if status == reqwest::StatusCode::ACCEPTED {
        Value::Null
    } else {
        response.json().await.unwrap_or(Value::Null)
    };
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        bail!("{message} ({status})");
    }
    Ok(body)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
