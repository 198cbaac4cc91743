//! Lists of things a license holds and claims by id (custom field values, devices): their
//! claims' markers are indexed by id in one or more partitions (GSI), so a page is a page of
//! markers, merged across partitions by id, and one BatchGetItem of their licenses.

use std::collections::{HashMap, VecDeque};

use super::handlers::{visible_license, visible_of};
use super::License;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::ids::Id;
use crate::store::{IndexPager, ListedClaim, TenantStore, UniqueKey};

/// The license that holds `claim` (a value's or a device's id): its marker's owner (one
/// GetItem), then the license (one GetItem; 404 unless the manager may see it).
pub async fn claimed_by(store: TenantStore<'_>, principal: &Principal, claim: &UniqueKey) -> Result<License, ApiError> {
    let owner = store.unique_owner(claim.kind, &claim.scope, &claim.value).await?.ok_or(ApiError::NotFound)?;
    visible_license(store, principal, owner).await
}

/// Rows `offset..offset + limit` of the markers of `sources` (GSI, partition) merged in id
/// order (descending if asked), each made by `row` from its visible license (a marker whose
/// license is not visible yet, an order still being written, is passed over: counters do not
/// count it yet). Reads `offset + limit` markers and their licenses, 100 at a time.
pub async fn page_of_markers<R>(
    store: TenantStore<'_>,
    principal: &Principal,
    sources: Vec<(u8, String)>,
    descending: bool,
    (offset, limit): (usize, usize),
    row: impl Fn(&License, Id) -> Option<R>,
) -> Result<Vec<R>, ApiError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let wanted = offset + limit;
    let mut merge = MarkerMerge::new(sources, descending);
    let mut rows = Vec::with_capacity(limit);
    let mut seen = 0usize;
    while seen < wanted {
        let batch = merge.next_batch(store, (wanted - seen).min(100)).await?;
        if batch.is_empty() {
            break;
        }
        let owners: Vec<Id> = batch.iter().map(|m| m.owner).collect();
        let licenses: HashMap<Id, License> = visible_of(store, principal, &owners).await?;
        for marker in batch {
            let found = marker
                .value
                .parse::<Id>()
                .ok()
                .and_then(|id| licenses.get(&marker.owner).and_then(|license| row(license, id)));
            let Some(found) = found else { continue };
            seen += 1;
            if seen > offset && rows.len() < limit {
                rows.push(found);
            }
        }
    }
    Ok(rows)
}

/// Several marker partitions read a Query page at a time and merged by claimed id.
struct MarkerMerge {
    sources: Vec<(IndexPager<ListedClaim>, VecDeque<ListedClaim>)>,
    descending: bool,
}

impl MarkerMerge {
    fn new(sources: Vec<(u8, String)>, descending: bool) -> Self {
        let sources =
            sources.into_iter().map(|(index, pk)| (IndexPager::new(index, pk, !descending), VecDeque::new())).collect();
        MarkerMerge { sources, descending }
    }

    /// The next `n` markers in order (fewer at the end).
    async fn next_batch(&mut self, store: TenantStore<'_>, n: usize) -> Result<Vec<ListedClaim>, ApiError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            for (pager, buffer) in &mut self.sources {
                while buffer.is_empty() {
                    match pager.next_page(store, n.max(25)).await? {
                        Some(page) => buffer.extend(page),
                        None => break,
                    }
                }
            }
            let heads = self
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, (_, b))| b.front().map(|m| (m.value.parse::<Id>().unwrap_or(0), i)));
            let next = if self.descending { heads.max() } else { heads.min() };
            let Some((_, i)) = next else { break };
            out.extend(self.sources[i].1.pop_front());
        }
        Ok(out)
    }
}
