//! Orders too large for one DynamoDB transaction (more than ~45 licenses, or more than 4 MB):
//! written in steps that readers still see as one, and that a crash at any point cannot leave
//! half-done for good.
//!
//! 1. *record*: a [`StagedAttempt`] (state `staging`, a deadline) listing the licenses.
//! 2. *stage*: the licenses and their key claims, in transactions that fit, each license marked
//!    with the attempt and each claim with the attempt and a TTL (`expires_at`). Readers ignore
//!    a license whose attempt its order does not list as committed: staged ones are invisible.
//! 3. *commit*: one transaction writes the order (new, or appended to) listing the attempt as
//!    committed, the customer, and moves the record from `staging` to `committed`, conditional
//!    on its version. From that moment every staged license is visible.
//! 4. *settle*: the marks and the claims' TTL are removed (conditionally on the mark, so a
//!    concurrent `update_features` is never overwritten), then the record is deleted.
//!
//! A failure before the commit rolls back at once: the record moves to `rolled_back` (only if
//! still `staging`, so never after a commit that went through unseen), then the marked items
//! are deleted. A Lambda killed anywhere leaves the record behind; the sweeper ([`sweep`], a
//! scheduled Lambda) finds records past their deadline and finishes them: a `committed` one is
//! settled, a `staging` one is rolled back. Commit and roll-back both change the record
//! conditionally on its version, so exactly one of them happens. The claims' TTL (7 days after
//! the deadline) is the last resort should no sweeper run at all.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{Id, CLOCK_SKEW_MS};
use crate::licenses::history::HistoryEntry;
use crate::licenses::License;
use crate::store::{from_item, keys, Entity, IndexKey, Settle, Store, StoreError, TenantStore, Transaction, WriteCost};
use crate::timefmt::rfc3339;

/// How long a staged write may take before the sweeper rolls it back (milliseconds). The
/// functions that stage (create_order) time out after 29 s.
pub const DEADLINE_MS: i64 = 2 * 60 * 1_000;
/// How long after its deadline a staged claim's TTL lets DynamoDB delete it (seconds).
const CLAIM_TTL_AFTER_DEADLINE_S: i64 = 7 * 24 * 3_600;
/// Overdue records the sweeper reads per Query, and Queries per sweep (the next scheduled
/// sweep goes on; each page costs about a second of work).
const SWEEP_PAGE: i32 = 100;
const SWEEP_PAGES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    Staging,
    Committed,
    RolledBack,
}

/// The record of one staged write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedAttempt {
    pub id: Id,
    pub company: Id,
    pub order: Id,
    /// The licenses it stages.
    #[serde(with = "crate::catalog::json_text")]
    pub licenses: Vec<Id>,
    pub state: AttemptState,
    /// Epoch milliseconds after which the sweeper may finish it.
    pub deadline_ms: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for StagedAttempt {
    const KIND: &'static str = "ATTEMPT";
    const NAME: &'static str = "staged write";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::staged_attempt_pk(company, id), keys::STAGED_ATTEMPT_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        let sk = keys::staged_attempt_gsi1sk(self.deadline_ms, company, self.id);
        vec![IndexKey { index: 1, pk: keys::STAGED_ATTEMPTS_GSI1PK.into(), sk }]
    }
}

impl StagedAttempt {
    /// The mark its licenses and claims carry (a license's `attempt`).
    pub fn mark(&self) -> String {
        self.id.to_string()
    }

    fn moved_to(&self, state: AttemptState) -> StagedAttempt {
        StagedAttempt { state, updated_at: crate::store::later_than(self.updated_at), ..self.clone() }
    }
}

/// Records and stages `licenses` (already marked with `id`'s mark) for `order`, each with its
/// `created` history entry (`entries`, marked too, with the license's id). On failure whatever
/// was staged is rolled back before the error returns.
pub async fn stage(
    store: TenantStore<'_>,
    id: Id,
    order: Id,
    licenses: &[License],
    entries: &[HistoryEntry],
    now_ms: i64,
) -> Result<StagedAttempt, StoreError> {
    let record = StagedAttempt {
        id,
        company: store.company(),
        order,
        licenses: licenses.iter().map(|l| l.id).collect(),
        state: AttemptState::Staging,
        deadline_ms: now_ms + DEADLINE_MS,
        updated_at: crate::timefmt::now(),
    };
    let mut tx = store.transaction();
    tx.create(&record)?;
    tx.commit().await?;
    if let Err(err) = write_marked(store, &record, licenses, entries).await {
        roll_back(store, &record, licenses).await;
        return Err(err);
    }
    Ok(record)
}

/// The licenses, their claims and their entries, in transactions that fit DynamoDB's limits.
async fn write_marked(
    store: TenantStore<'_>,
    record: &StagedAttempt,
    licenses: &[License],
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    let mark = record.mark();
    let expires_at = record.deadline_ms / 1_000 + CLAIM_TTL_AFTER_DEADLINE_S;
    let mut batch = store.transaction();
    for (license, entry) in licenses.iter().zip(entries) {
        let cost = store.create_cost(license)? + store.create_cost(entry)?;
        if !batch.has_room(cost, WriteCost::default()) {
            std::mem::replace(&mut batch, store.transaction()).commit().await?;
        }
        batch.create_staged(license, &mark, expires_at)?;
        batch.create_staged(entry, &mark, expires_at)?;
    }
    batch.commit().await
}

/// Adds the commit of `record` to the order's transaction; the committed record.
pub fn commit_in(tx: &mut Transaction<'_>, record: &StagedAttempt) -> Result<StagedAttempt, StoreError> {
    let committed = record.moved_to(AttemptState::Committed);
    tx.replace(record, &committed)?;
    Ok(committed)
}

/// After the commit: the marks go, then the record. A failure is left to the sweeper.
pub async fn settle_committed(store: TenantStore<'_>, record: &StagedAttempt, licenses: &[License]) {
    if let Err(err) = finish(store, record, licenses, Settle::Keep).await {
        tracing::warn!(error = %err, attempt = record.id, "could not settle a committed staged write; the sweeper will");
    }
}

/// Rolls back a staged write that did not commit: only if its record is still `staging`
/// (else a commit went through, or someone else is rolling it back). Failures are left to the
/// sweeper.
pub async fn roll_back(store: TenantStore<'_>, record: &StagedAttempt, licenses: &[License]) {
    let rolled_back = record.moved_to(AttemptState::RolledBack);
    let mut tx = store.transaction();
    let moved = match tx.replace(record, &rolled_back) {
        Ok(()) => tx.commit().await,
        Err(err) => Err(err),
    };
    let result = match moved {
        Ok(()) => finish(store, &rolled_back, licenses, Settle::Delete).await,
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, attempt = record.id, "could not roll back a staged write; the sweeper will");
    }
}

/// Settles the marked items, then deletes the record.
async fn finish(
    store: TenantStore<'_>,
    record: &StagedAttempt,
    licenses: &[License],
    settle: Settle,
) -> Result<(), StoreError> {
    store.settle_staged(licenses, &record.mark(), settle).await?;
    store.settle_staged_ids::<HistoryEntry>(&record.licenses, &record.mark(), settle).await?;
    let mut tx = store.transaction();
    tx.delete(record)?;
    tx.commit().await
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub settled: u64,
    pub rolled_back: u64,
}

/// Finishes every staged write past its deadline (by more than clocks may disagree), in all
/// companies: committed ones are settled, the others rolled back. `now_ms`: epoch ms.
pub async fn sweep(store: &Store, now_ms: i64) -> Result<SweepReport, StoreError> {
    let below = keys::deadline_sort_key(now_ms - CLOCK_SKEW_MS);
    let mut report = SweepReport::default();
    for _ in 0..SWEEP_PAGES {
        let items = store.query_index_below(keys::STAGED_ATTEMPTS_GSI1PK, &below, SWEEP_PAGE).await?;
        let page_len = items.len();
        for item in items {
            let record: StagedAttempt = from_item(item)?;
            let tenant = store.tenant(record.company);
            // The index is eventually consistent: act on the record as it is now.
            let Some(record) = tenant.get::<StagedAttempt>(record.id).await? else { continue };
            let mark = record.mark();
            let licenses: Vec<License> = tenant
                .get_many::<License>(&record.licenses)
                .await?
                .into_iter()
                .filter(|l| l.attempt.as_deref() == Some(mark.as_str()))
                .collect();
            match record.state {
                AttemptState::Committed => {
                    finish(tenant, &record, &licenses, Settle::Keep).await?;
                    report.settled += 1;
                }
                AttemptState::Staging => {
                    let rolled_back = record.moved_to(AttemptState::RolledBack);
                    let mut tx = tenant.transaction();
                    tx.replace(&record, &rolled_back)?;
                    match tx.commit().await {
                        Ok(()) => {}
                        // Committed (or rolled back) meanwhile: the next sweep sees it anew.
                        Err(StoreError::Stale(_)) => continue,
                        Err(err) => return Err(err),
                    }
                    finish(tenant, &rolled_back, &licenses, Settle::Delete).await?;
                    report.rolled_back += 1;
                }
                AttemptState::RolledBack => {
                    finish(tenant, &record, &licenses, Settle::Delete).await?;
                    report.rolled_back += 1;
                }
            }
        }
        if page_len < SWEEP_PAGE as usize {
            break;
        }
    }
    Ok(report)
}

/// One invocation of the sweeper Lambda (an EventBridge schedule; the event's content is not
/// used): what it finished, as JSON.
pub async fn handle_scheduled(
    app: &crate::app::App,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_http::Error> {
    let report = sweep(&app.store, crate::ids::now_ms()).await?;
    tracing::info!(settled = report.settled, rolled_back = report.rolled_back, "sweep done");
    Ok(serde_json::json!({"settled": report.settled, "rolled_back": report.rolled_back}))
}
