//! The round's plan count (plan step 5): page through `GET /v1/rollouts?limit=100`
//! until `next_cursor` is `""`, reading of each plan only what the count needs.
//!
//! The harness's `Client::list_all` decodes every plan whole (its spec into a
//! `serde_json::Value`) and keeps it. A soak walks the whole store every round (144
//! pages at the end of a 30-day soak, about 104,000 pages over the nightly run), and in
//! a debug build decoding and keeping specs nobody reads was a large part of the walk.
//! This walk asks for the same pages, requires the same fields with the same types
//! (the spec is skipped, as any JSON value was accepted before), applies the same
//! paging rules and reports the same errors. Every page, the failed one included, is
//! kept as a typed record ([`ListPage`]) with its IDs exactly as answered.

use std::collections::HashSet;

use serde::de::IgnoredAny;
use serde::Deserialize;
use val_support::client::{Client, Method};
use val_support::records::ListPage;
use val_support::wire::PagingError;

/// One page of `GET /v1/rollouts`, as far as the count needs it.
#[derive(Deserialize)]
struct Page {
    plans: Vec<Plan>,
    /// `""` on the last page; absent is a contract violation.
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A rollout of the page: the same required fields as the harness's `Rollout`.
#[derive(Deserialize)]
struct Plan {
    plan: PlanDoc,
    #[allow(dead_code)]
    phase: String,
    #[allow(dead_code)]
    attempts: u64,
    #[allow(dead_code)]
    updated_at: String,
}

/// The plan document: its ID; the spec must be present but is not read.
#[derive(Deserialize)]
struct PlanDoc {
    metadata: Metadata,
    #[allow(dead_code)]
    spec: IgnoredAny,
}

/// Plan metadata, as the harness's `Metadata` reads it.
#[derive(Deserialize)]
struct Metadata {
    id: String,
    #[allow(dead_code)]
    #[serde(default)]
    created_at: Option<String>,
}

/// Every page fetched and every plan ID seen, in order.
#[derive(Debug, Default)]
pub struct Walk {
    /// Plan IDs in the order received.
    pub ids: Vec<String>,
    /// Pages in the order fetched, the one a request failed on included.
    pub pages: Vec<ListPage>,
}

/// Why a walk stopped before the last page, and what it had seen until then.
#[derive(Debug)]
pub struct Stopped {
    /// The paging rule that was broken, or the failed request.
    pub error: PagingError,
    /// The pages and IDs before the failure.
    pub partial: Walk,
}

/// Follows `next_cursor` from the first page to the last (`""`), `limit` plans per
/// page. Stops on a failed request, a repeated cursor, more than `max_pages` pages, a
/// duplicate plan ID, or a page without `next_cursor` (the rules of
/// `Client::list_all`, with its error texts).
pub async fn walk(client: &Client, limit: u32, max_pages: usize) -> Result<Walk, Stopped> {
    let mut walk = Walk::default();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut seen_cursors: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_no = walk.pages.len() + 1;
        if page_no > max_pages {
            let error = PagingError::PageLimit { limit: max_pages };
            return Err(Stopped {
                error,
                partial: walk,
            });
        }
        let mut query = vec![("limit", limit.to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let r = client
            .request::<Page>(Method::GET, "/v1/rollouts", &query, None)
            .await;
        let ok = r.is_ok();
        let error_text = r.error_text();
        let mut record = ListPage {
            page: page_no,
            cursor: cursor.clone(),
            limit: Some(limit),
            status: r.status,
            latency_us: r.latency_us,
            error: error_text.clone(),
            ..ListPage::default()
        };
        let Some(page) = r.body.filter(|_| ok) else {
            walk.pages.push(record);
            let error = PagingError::Request {
                page: page_no,
                status: record_status(&walk),
                error: error_text.unwrap_or_else(|| "no page in the answer".into()),
            };
            return Err(Stopped {
                error,
                partial: walk,
            });
        };
        record.well_formed = true;
        record.items = page.plans.len();
        record.next_cursor = page.next_cursor.clone();
        record.ids = Some(
            page.plans
                .iter()
                .map(|p| p.plan.metadata.id.clone())
                .collect(),
        );
        walk.pages.push(record);
        for p in page.plans {
            let id = p.plan.metadata.id;
            if !seen_ids.insert(id.clone()) {
                let error = PagingError::DuplicateId { page: page_no, id };
                return Err(Stopped {
                    error,
                    partial: walk,
                });
            }
            walk.ids.push(id);
        }
        match page.next_cursor {
            None => {
                let error = PagingError::MissingCursor { page: page_no };
                return Err(Stopped {
                    error,
                    partial: walk,
                });
            }
            Some(c) if c.is_empty() => return Ok(walk),
            Some(c) => {
                if !seen_cursors.insert(c.clone()) {
                    let error = PagingError::RepeatedCursor {
                        page: page_no,
                        cursor: c,
                    };
                    return Err(Stopped {
                        error,
                        partial: walk,
                    });
                }
                cursor = Some(c);
            }
        }
    }
}

/// The status of the last page recorded.
fn record_status(walk: &Walk) -> Option<u16> {
    walk.pages.last().and_then(|p| p.status)
}
