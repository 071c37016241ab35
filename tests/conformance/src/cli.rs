//! CONF-06: the CLI's exit codes and wording (contract §7).

use anyhow::Result;
use val_support::client::{Cli, Method, RollbackRequest};
use val_support::lab::LabCtx;
use val_support::plans::conformance::{self as plan, CliCase};

use crate::http;
use crate::Env;

/// The actor the CLI's executions name.
const OPERATOR: &str = "conformance-cli";
/// A URL where nothing listens (port 1 is privileged and unused on a test machine).
const UNREACHABLE_URL: &str = "http://127.0.0.1:1";

/// The CLI aimed at the control-plane: `AUTONOMY_CLI` when set, else its binary
/// (chosen, with its environment, by [`Cli::for_cp`] as for every suite).
fn cli(env: &Env) -> Result<Cli> {
    Ok(Cli::for_cp(&env.cp)?.operator(OPERATOR))
}

/// `rollback execute` arguments as the plans name them (no reference-only flag).
fn execute(id: &str, strategy: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "rollback",
        "execute",
        "--target",
        "rollout_plan",
        "--resource",
        id,
        "--strategy",
        strategy,
        "--reason",
        "conformance cli",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// `error.message` of the API's answer to the same rollback the CLI sends (a rejected
/// request changes nothing, so asking twice is harmless).
fn server_message(ctx: &LabCtx, env: &Env, id: &str, strategy: &str) -> Option<String> {
    let req = RollbackRequest {
        strategy: strategy.into(),
        reason: "conformance cli".into(),
        actor: OPERATOR.into(),
    };
    let body = serde_json::to_vec(&req).ok()?;
    let r = ctx.block_on(http::send(
        &env.client,
        "server",
        Method::POST,
        &format!("/v1/rollouts/{id}/rollback"),
        Some(body),
    ));
    r.json()?["error"]["message"].as_str().map(str::to_string)
}

/// Runs every case of [`plan::CLI_CASES`] and records it.
pub fn run(ctx: &LabCtx, env: &mut Env) -> Result<()> {
    let c = cli(env)?;
    let url = env.cp.url().to_string();
    let ok_id = format!("{}-cli-ok", env.prefix);
    let done_id = format!("{}-cli-rolled-back", env.prefix);
    let missing = format!("{}-cli-missing", env.prefix);
    for id in [&ok_id, &done_id] {
        if ctx
            .block_on(
                env.client
                    .create(&val_support::client::CreateRollout::new(id)),
            )
            .is_ok()
        {
            env.created.push(id.clone());
        }
    }
    let req = RollbackRequest {
        strategy: "rollback".into(),
        reason: "conformance cli setup".into(),
        actor: OPERATOR.into(),
    };
    if ctx.block_on(env.client.rollback(&done_id, &req)).is_ok() {
        env.executed.push((
            done_id.clone(),
            req.strategy.clone(),
            req.actor.clone(),
            req.reason.clone(),
        ));
    }
    let case = |name: &str, run, url: &str, server_message| CliCase {
        case: name.into(),
        run,
        url: url.into(),
        server_message,
    };
    let mut cases = vec![
        case(
            "success-default-output",
            c.run(execute(&ok_id, "retry", &[])),
            &url,
            None,
        ),
        case(
            "success-json-output",
            c.run(execute(&ok_id, "retry", &["--output", "json"])),
            &url,
            None,
        ),
        case(
            "usage-missing-resource",
            c.run([
                "rollback",
                "execute",
                "--target",
                "rollout_plan",
                "--strategy",
                "retry",
                "--reason",
                "r",
            ]),
            &url,
            None,
        ),
        case(
            "unreachable",
            c.clone()
                .env("AUTONOMY_CP_URL", UNREACHABLE_URL)
                .run(execute(&ok_id, "retry", &[])),
            UNREACHABLE_URL,
            None,
        ),
    ];
    let nf = server_message(ctx, env, &missing, "retry");
    cases.push(case(
        "not-found",
        c.run(execute(&missing, "retry", &[])),
        &url,
        nf,
    ));
    let rj = server_message(ctx, env, &done_id, "retry");
    cases.push(case(
        "rejected-rolled-back",
        c.run(execute(&done_id, "retry", &[])),
        &url,
        rj,
    ));
    for cs in &cases[..2] {
        if cs.run.success() {
            env.executed.push((
                ok_id.clone(),
                "retry".into(),
                OPERATOR.into(),
                "conformance cli".into(),
            ));
        }
    }
    let mut text = String::new();
    for cs in &cases {
        text.push_str(&serde_json::to_string(cs)?);
        text.push('\n');
    }
    ctx.write_text(plan::CLI_FILE, &text)?;
    Ok(())
}
