//! CONF-08: a stateful sequence across a SIGKILL, which no schemathesis phase spans.

use anyhow::Result;
use val_support::client::{CreateRollout, RollbackRequest};
use val_support::lab::LabCtx;
use val_support::plans::conformance::{self as plan, RestartPlan, RestartRun};

use crate::http;
use crate::Env;

/// Creates `n` plans (some retried, some rolled back, so every phase is on disk),
/// reads each, SIGKILLs the control-plane, restarts it on the same store, reads again.
pub fn run(ctx: &LabCtx, env: &mut Env, n: usize) -> Result<()> {
    if let Some(reason) = env.cp.config().target.not_controllable_reason() {
        ctx.not_run("CONF-08", &reason)?;
        return Ok(());
    }
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{}-restart-{i:02}", env.prefix))
        .collect();
    let before = ctx.block_on(async {
        for (i, id) in ids.iter().enumerate() {
            if !env.client.create(&CreateRollout::new(id)).await.is_ok() {
                continue;
            }
            env.created.push(id.clone());
            let strategy = match i % 3 {
                1 => "retry",
                2 => "rollback",
                _ => continue,
            };
            let req = RollbackRequest {
                strategy: strategy.into(),
                reason: "conformance restart".into(),
                actor: "conformance-op".into(),
            };
            if env.client.rollback(id, &req).await.is_ok() {
                env.executed
                    .push((id.clone(), req.strategy, req.actor, req.reason));
            }
        }
        let mut before = Vec::new();
        for id in &ids {
            before.push(http::get(&env.client, id).await);
        }
        before
    });
    // The kill comes right after the last acknowledged write: nothing may be pending.
    let outcome = env.cp.kill()?;
    let kill = format!(
        "SIGKILL: signal {:?}, exit {:?}, {} ms",
        outcome.signal, outcome.exit_code, outcome.elapsed_ms
    );
    env.cp.start_again()?;
    let plans = ctx.block_on(async {
        let mut plans = Vec::new();
        for (id, before) in ids.iter().zip(before) {
            let after = http::get(&env.client, id).await;
            plans.push(RestartPlan {
                id: id.clone(),
                before,
                after,
            });
        }
        plans
    });
    ctx.write_json(plan::RESTART_FILE, &RestartRun { kill, plans })?;
    Ok(())
}
