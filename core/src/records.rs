//! Typed raw records: what the harness observed, written once as JSON Lines of fixed
//! structs. Text from the control-plane or its CLI (IDs, cursors, stdout, stderr) is
//! only ever a JSON string value here: nothing splits it, trims it or reads it for
//! structure, so no answer can add a record or change a field. The plans' text
//! files a person reads (`list-walk.txt`, `recovery.txt`, `val08-list-ids.txt`, …)
//! are derived from these records and re-derived by `evidence verify`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::escape::escape;
use crate::wire::CliRun;

/// The page size the contract gives a list request that sends no `limit`.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

/// One page of a list walk (`GET /v1/rollouts?limit=L[&cursor=C]`), as answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListPage {
    /// 1-based page number.
    pub page: usize,
    /// The cursor sent (`None` for the first page).
    pub cursor: Option<String>,
    /// The `limit` sent (`None`: none was sent, so the contract's default
    /// [`DEFAULT_LIST_LIMIT`] applies; a record without the field reads so too).
    pub limit: Option<u32>,
    /// HTTP status (`None`: no answer).
    pub status: Option<u16>,
    /// The body parsed as the contract's page (`plans` of plans with IDs, `next_cursor`).
    pub well_formed: bool,
    /// Plans on the page (counted from the parsed body).
    pub items: usize,
    /// The plan IDs of the page in order, exactly as answered; `None` where the walk
    /// kept only the count (a soak round that does not judge its listing: a 30-day
    /// soak would otherwise store every ID of the store every round).
    pub ids: Option<Vec<String>>,
    /// `next_cursor` as answered (`None`: absent or no page).
    pub next_cursor: Option<String>,
    /// Request → answer, µs.
    pub latency_us: u64,
    /// The transport or decoding error, if any.
    pub error: Option<String>,
}

/// One recovery call of a soak round: the plan it was for and the CLI call whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCall {
    /// The plan ID the harness asked the CLI to recover.
    pub plan_id: String,
    /// The CLI call (argv, exit code, signal, stdout and stderr, duration).
    pub call: CliRun,
}

/// `records` as JSON Lines (one record per line, each ending in `\n`).
pub fn to_jsonl<T: Serialize>(records: &[T]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("a record serialises") + "\n")
        .collect()
}

/// The records of JSON Lines text; any line that is not exactly one record (an
/// unknown field, a missing one, a wrong type) makes the whole text unreadable.
pub fn parse_jsonl<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Why a walk is not a complete listing (`None` when it is): every page answered 200
/// with a well-formed body and no error, the pages form one cursor chain
/// ([`chain_break`]), every page but the last named a non-empty next cursor, the last
/// an empty one, no page holds more plans than the `limit` it was requested with
/// (the contract's bound; fewer is allowed on any page), and no ID came twice. Derived from the pages' fields only, never
/// from a flag the writer set.
pub fn incomplete(pages: &[ListPage]) -> Option<String> {
    let Some(last) = pages.last() else {
        return Some("no page was recorded".into());
    };
    if let Some(p) = pages
        .iter()
        .find(|p| p.status != Some(200) || !p.well_formed || p.error.is_some())
    {
        let status = p
            .status
            .map_or_else(|| "no answer".into(), |s| s.to_string());
        return Some(format!(
            "page {} answered {status} (well-formed: {}){}",
            p.page,
            p.well_formed,
            p.error
                .as_deref()
                .map(|e| format!(": {}", escape(e)))
                .unwrap_or_default()
        ));
    }
    if let Some(why) = chain_break(
        pages
            .iter()
            .map(|p| (p.page, p.cursor.as_deref(), p.next_cursor.as_deref())),
    ) {
        return Some(why);
    }
    if let Some(p) = pages[..pages.len() - 1]
        .iter()
        .find(|p| p.next_cursor.as_deref().is_none_or(str::is_empty))
    {
        return Some(format!(
            "page {} ended the walk but is not the last",
            p.page
        ));
    }
    if last.next_cursor.as_deref() != Some("") {
        return Some(format!(
            "the last page ({}) named no empty next_cursor",
            last.page
        ));
    }
    if let Some(p) = pages
        .iter()
        .find(|p| p.ids.as_ref().is_some_and(|ids| ids.len() != p.items))
    {
        return Some(format!("page {}: its IDs are not its item count", p.page));
    }
    if let Some((p, limit)) = pages
        .iter()
        .map(|p| (p, p.limit.unwrap_or(DEFAULT_LIST_LIMIT)))
        .find(|(p, limit)| p.items as u64 > u64::from(*limit))
    {
        return Some(format!(
            "page {} holds {} plans, over the limit {limit} it was requested with",
            p.page, p.items
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(id) = all_ids(pages).find(|id| !seen.insert(*id)) {
        return Some(format!("plan {} was listed twice", id_text(id)));
    }
    None
}

/// Why a walk's pages are not one cursor chain (`None` when they are), from each
/// page's `(page number, cursor sent, next_cursor answered)`: the pages are numbered
/// 1, 2, … in order, page 1 was requested with no cursor, and every later page with
/// exactly the `next_cursor` of the page before it, byte for byte. Pages that each
/// answered 200 are one listing only if each was asked for where the last one ended:
/// a page fetched with another cursor (or the first page again) lists some other
/// part of the store. Every listing the judges read goes through here: the
/// [`ListPage`] walks (VAL08-09, the soak's rounds) through [`incomplete`], VAL11's
/// final reads through `ListEvidence::reached_end`.
pub fn chain_break<'a>(
    pages: impl IntoIterator<Item = (usize, Option<&'a str>, Option<&'a str>)>,
) -> Option<String> {
    let shown = |c: Option<&str>| {
        c.map_or_else(
            || "none".to_string(),
            |c| escape(&serde_json::to_string(c).expect("a string serialises")).into_owned(),
        )
    };
    // The next cursor of the page before (`None`: no page yet).
    let mut before: Option<Option<&str>> = None;
    for (i, (page, cursor, next)) in pages.into_iter().enumerate() {
        if page != i + 1 {
            return Some(format!("record {} is numbered page {page}", i + 1));
        }
        match before {
            None if cursor.is_some() => {
                return Some(format!(
                    "page 1 was requested with cursor {}, not with none",
                    shown(cursor)
                ))
            }
            Some(prev) if cursor.is_none() || cursor != prev => {
                return Some(format!(
                    "page {page} was requested with cursor {}, not page {}'s next_cursor {}",
                    shown(cursor),
                    page - 1,
                    shown(prev)
                ))
            }
            _ => {}
        }
        before = Some(next);
    }
    None
}

/// Every kept ID of `pages`, in order.
pub fn all_ids(pages: &[ListPage]) -> impl Iterator<Item = &String> {
    pages.iter().flat_map(|p| p.ids.iter().flatten())
}

/// IDs the pages list more than once, in listing order: each repeat once per extra
/// listing.
pub fn duplicate_ids(pages: &[ListPage]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    all_ids(pages)
        .filter(|id| !seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// An ID as one line of a text file a person reads: as written when it is plain,
/// else as a JSON string (a newline, a control character or a space such as U+3000
/// stays visible and cannot start another line).
pub fn id_text(id: &str) -> String {
    if id.is_empty() || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        serde_json::to_string(id).expect("a string serialises")
    } else {
        id.to_string()
    }
}

/// The derived `list-walk.txt` of a walk: one line per page, then `complete=…` as
/// [`incomplete`] decides it. Cursors are quoted and escaped.
pub fn list_walk_text(pages: &[ListPage]) -> String {
    let mut out = String::new();
    for p in pages {
        let next = p
            .next_cursor
            .as_deref()
            .map_or("(absent)".to_string(), |c| {
                serde_json::to_string(c).expect("string")
            });
        out.push_str(&format!(
            "page={} code={} items={} next_cursor={} latency_us={}\n",
            p.page,
            p.status.map_or_else(|| "000".into(), |c| c.to_string()),
            p.items,
            escape(&next),
            p.latency_us
        ));
    }
    match incomplete(pages) {
        None => out.push_str("complete=true\n"),
        Some(e) => out.push_str(&format!("complete=false error={}\n", escape(&e))),
    }
    out
}

/// The derived text of CLI calls: per call a header line naming the plan, then the
/// call's block with every line of its output escaped (a line of output cannot pass
/// for a header or a field).
pub fn recovery_text(calls: &[RecoveryCall]) -> String {
    let mut out = String::new();
    for c in calls {
        out.push_str(&format!("=== recovery plan_id={}\n", id_text(&c.plan_id)));
        let mut call = c.call.clone();
        call.stdout = escape(&call.stdout).into_owned();
        call.stderr = escape(&call.stderr).into_owned();
        call.args = call.args.iter().map(|a| id_text(a)).collect();
        out.push_str(&call.to_evidence());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page `n` of a chain whose cursors are `c1`, `c2`, …
    fn page(n: usize, status: u16, ids: &[&str], next: &str) -> ListPage {
        ListPage {
            page: n,
            cursor: (n > 1).then(|| format!("c{}", n - 1)),
            status: Some(status),
            well_formed: true,
            items: ids.len(),
            ids: Some(ids.iter().map(|s| s.to_string()).collect()),
            next_cursor: Some(next.into()),
            ..ListPage::default()
        }
    }

    #[test]
    fn a_listing_is_complete_only_from_its_pages_fields() {
        let good = [page(1, 200, &["a"], "c1"), page(2, 200, &["b"], "")];
        assert_eq!(incomplete(&good), None);
        let mut bad = good.clone();
        bad[1].status = Some(503);
        assert!(incomplete(&bad).unwrap().contains("503"));
        let mut bad = good.clone();
        bad[1].well_formed = false;
        assert!(incomplete(&bad).is_some());
        let mut bad = good.clone();
        bad[1].next_cursor = Some("more".into());
        assert!(incomplete(&bad).is_some());
        let bad = [page(1, 200, &["a"], ""), page(2, 200, &["b"], "")];
        assert!(incomplete(&bad).is_some(), "a page after the last");
        let bad = [page(1, 200, &["a"], "c1"), page(2, 200, &["a"], "")];
        assert!(incomplete(&bad).unwrap().contains("twice"));
        assert!(incomplete(&[]).is_some());
    }

    #[test]
    fn a_page_over_its_requested_limit_is_not_a_listing() {
        let many = |n: usize, from: usize| -> Vec<String> {
            (from..from + n).map(|i| format!("p{i}")).collect()
        };
        let with = |n, ids: Vec<String>, next: &str, limit| ListPage {
            limit,
            ids: Some(ids.clone()),
            items: ids.len(),
            ..page(n, 200, &[], next)
        };
        // At the limit, and under it (on any page), is a listing.
        let good = [
            with(1, many(100, 0), "c1", Some(100)),
            with(2, many(3, 100), "c2", Some(100)),
            with(3, many(1, 103), "", Some(100)),
        ];
        assert_eq!(incomplete(&good), None);
        // RT4 A10: 101 plans asked for 100.
        let mut bad = good.clone();
        bad[0] = with(1, many(101, 0), "c1", Some(100));
        bad[1] = with(2, many(2, 101), "c2", Some(100));
        let why = incomplete(&bad).unwrap();
        assert!(
            why.contains("page 1 holds 101 plans, over the limit 100"),
            "{why}"
        );
        // No limit sent (or none recorded): the contract's default bounds the page.
        let mut bad = good.clone();
        bad[0].limit = None;
        assert_eq!(incomplete(&bad), None);
        bad[0] = with(1, many(101, 0), "c1", None);
        bad[1] = with(2, many(2, 101), "c2", Some(100));
        assert!(incomplete(&bad).unwrap().contains("over the limit 100"));
        // A walk that asked for 1000 may get 101.
        bad[0].limit = Some(1000);
        assert_eq!(incomplete(&bad), None);
        let back: Vec<ListPage> = parse_jsonl(&to_jsonl(&good)).unwrap();
        assert_eq!(back, good);
    }

    #[test]
    fn duplicate_ids_are_every_extra_listing_across_pages() {
        let pages = [
            page(1, 200, &["a", "b"], "c1"),
            page(2, 200, &["b", "c", "a", "b"], ""),
        ];
        assert_eq!(duplicate_ids(&pages), ["b", "a", "b"]);
        assert!(duplicate_ids(&pages[..1]).is_empty());
    }

    #[test]
    fn a_listing_is_one_cursor_chain() {
        let good = [
            page(1, 200, &["a"], "c1"),
            page(2, 200, &["b"], "c2"),
            page(3, 200, &["c"], ""),
        ];
        assert_eq!(incomplete(&good), None);
        let mut bad = good.clone();
        bad[2].cursor = Some("bogus-cursor".into());
        let why = incomplete(&bad).unwrap();
        assert!(
            why.contains("page 3") && why.contains("bogus-cursor"),
            "{why}"
        );
        let mut bad = good.clone();
        bad[0].cursor = Some(String::new());
        assert!(incomplete(&bad).unwrap().contains("page 1"));
        let mut bad = good.clone();
        bad[1].cursor = None;
        assert!(
            incomplete(&bad).is_some(),
            "page 2 fetched without a cursor"
        );
        let mut bad = good.clone();
        bad[1].cursor = Some("c1 ".into());
        assert!(incomplete(&bad).is_some(), "byte for byte");
        let mut bad = good.clone();
        bad.swap(1, 2);
        assert!(incomplete(&bad).is_some(), "pages out of order");
    }

    #[test]
    fn hostile_text_stays_one_escaped_value() {
        let forged = "c1\npage=2 code=200 items=100 next_cursor=\"\"\ncomplete=true\n\u{1b}[1A";
        let pages = [
            page(1, 200, &["a\nb", "c\u{3000}"], forged),
            page(2, 200, &[], ""),
        ];
        let text = list_walk_text(&pages);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().filter(|l| l.starts_with("page=")).count() == 2);
        assert_eq!(id_text("a\nb"), "\"a\\nb\"");
        assert_eq!(id_text("c\u{3000}"), "\"c\u{3000}\"");
        assert_eq!(id_text("plain-1"), "plain-1");
        let back: Vec<ListPage> = parse_jsonl(&to_jsonl(&pages)).unwrap();
        assert_eq!(back, pages);
        let extra = to_jsonl(&pages).replacen("{", "{\"complete\":true,", 1);
        assert!(parse_jsonl::<ListPage>(&extra)
            .unwrap_err()
            .contains("unknown field"));
    }
}
