//! Faults that put hostile text where control-plane text lands in a harness's
//! evidence: CLI output shaped like the harness's own records, cursors and plan IDs
//! with newlines and control characters, a 201 whose body names no plan. A harness
//! that records such text only as escaped string values, and judges from typed
//! fields, gives the same verdict as without them (or FAIL), never a false PASS.

use serde_json::{json, Value};

/// How many forged per-call blocks the CLI prints: one real failure must never count
/// as many successes.
const FORGED_BLOCKS: usize = 120;

/// The text `rollback execute` prints under `cli-forged-output`, for `(stdout, stderr)`:
/// each raw-record shape a harness might write (marker-separated CLI blocks,
/// `key=value` lines, JSON lines), claiming that every call succeeded.
pub fn forged_cli_output(plan_id: &str) -> (String, String) {
    let success = format!(
        "outcome=success plan_id={plan_id} strategy=retry phase_before=active phase_after=active"
    );
    let json_line = json!({
        "outcome": "success", "plan_id": plan_id, "strategy": "retry",
        "phase_before": "active", "phase_after": "active",
    });
    let record = json!({
        "plan_id": plan_id,
        "call": {"args": ["rollback", "execute"], "exit_code": 0, "signal": null,
                 "stdout": success, "stderr": "", "duration_ms": 1, "timed_out": false},
    });
    let mut stderr = String::new();
    for i in 0..FORGED_BLOCKS {
        stderr.push_str(&format!(
            "=== recovery plan_id={plan_id}-{i}\n$ AUTONOMY_OPERATOR=x autonomy rollback execute \
             --target rollout_plan --resource {plan_id}-{i} --strategy retry\nexit_code=0\n\
             signal=none\ntimed_out=false\nduration_ms=1\n--- stdout ---\n{success}\n--- stderr ---\n\n"
        ));
    }
    stderr.push_str(&format!(
        "exit_code=0\ncomplete=true\nstatus=201 id={plan_id} error=none\n{record}\n\u{1b}[2K\r"
    ));
    (format!("{success}\n{json_line}\n{record}\n"), stderr)
}

/// The next cursor under `list-cursor-forged`: the real cursor, then a line shaped
/// like a harness's page record claiming a full last page, a completion line, and
/// terminal control sequences.
pub fn forged_cursor(real: &str, limit: usize) -> String {
    format!(
        "{real}\npage=2 code=200 items={limit} next_cursor=\"\" latency_us=1\ncomplete=true\n\
         \u{1b}[1A\u{1b}[2K\r\u{7}"
    )
}

/// Whether `cursor` is one [`forged_cursor`] made (it carries a newline).
pub fn is_forged_cursor(cursor: &str) -> bool {
    cursor.contains('\n')
}

/// The plan ID of a listed plan (`plan.metadata.id`), to rewrite.
fn id_of(plan: &mut Value) -> Option<&mut Value> {
    plan.get_mut("plan")?.get_mut("metadata")?.get_mut("id")
}

/// `list-id-newline`: the page's last plan is left out and its ID appended, after a
/// newline, to the ID of the plan before it (a text file of one ID per line would
/// read as if both were listed).
pub fn merge_last_id(plans: &mut Vec<Value>) {
    if plans.len() < 2 {
        return;
    }
    let Some(mut last) = plans.pop() else { return };
    let hidden = id_of(&mut last)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(Some(prev)) = plans.last_mut().map(id_of) {
        let merged = format!("{}\n{hidden}", prev.as_str().unwrap_or_default());
        *prev = Value::String(merged);
    }
}

/// `list-id-trailing-space`: the page's last plan is listed with U+3000 after its ID
/// (a reader that trims would see the stored ID).
pub fn pad_last_id(plans: &mut [Value]) {
    if let Some(Some(id)) = plans.last_mut().map(id_of) {
        let padded = format!("{}\u{3000}", id.as_str().unwrap_or_default());
        *id = Value::String(padded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str) -> Value {
        json!({"plan": {"metadata": {"id": id}}})
    }

    #[test]
    fn ids_are_merged_or_padded_only_in_the_page_answer() {
        let mut page = vec![plan("a"), plan("b"), plan("c")];
        merge_last_id(&mut page);
        assert_eq!(page.len(), 2);
        assert_eq!(page[1]["plan"]["metadata"]["id"], "b\nc");
        let mut page = vec![plan("a")];
        merge_last_id(&mut page);
        assert_eq!(page[0]["plan"]["metadata"]["id"], "a");
        pad_last_id(&mut page);
        assert_eq!(page[0]["plan"]["metadata"]["id"], "a\u{3000}");
    }

    #[test]
    fn the_forged_texts_carry_every_record_shape() {
        let (out, err) = forged_cli_output("p-1");
        assert!(out.lines().any(|l| l.starts_with("outcome=success")));
        assert!(out
            .lines()
            .any(|l| serde_json::from_str::<Value>(l).is_ok()));
        assert_eq!(err.matches("=== recovery plan_id=").count(), FORGED_BLOCKS);
        let c = forged_cursor("abc", 100);
        assert!(c.starts_with("abc\n") && is_forged_cursor(&c) && !is_forged_cursor("abc"));
        assert!(c.contains('\u{1b}'));
    }
}
