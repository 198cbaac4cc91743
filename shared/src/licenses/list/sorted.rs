//! `order_by=validity_period` (and `-validity_period`) from an index sorted by it (issue 12,
//! item 4): each license is also indexed on GSI6 under its product, sorted by its validity
//! date and then its id (`keys::license_validity_sk`), so a page is a k-way merge of the
//! products' partitions in that order, each read a Query page at a time: the page costs one
//! Query per product, whatever the tenant's size. The ranking is exactly the top-k's: nulls
//! first ascending, ties by id, all reversed when descending (API.md §1).
//!
//! Used when the path's count is known without reading it (no filter but the products or the
//! scope); any other filtered ranking is the top-k over the path (`page::top_k`).

use std::collections::{HashMap, VecDeque};

use super::page::Listed;
use super::LicenseCtx;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::ids::Id;
use crate::licenses::License;
use crate::listing::ListQuery;
use crate::orders::Order;
use crate::store::{keys, IndexPager, TenantStore, MAX_PAGE_ITEMS};

/// The first Query page a product's partition asks for: with many products, what is held at
/// once stays small (the products' pages, each at most DynamoDB's 1 MB).
const FIRST_PAGE: usize = 25;

/// The page `query.offset..+limit` of `products`' licenses by validity, and `count`.
pub(super) async fn by_validity(
    store: TenantStore<'_>,
    principal: &Principal,
    query: &ListQuery<'_, License, LicenseCtx>,
    ctx: LicenseCtx,
    products: &[Id],
    count: usize,
    descending: bool,
) -> Result<Listed, ApiError> {
    if query.offset >= count {
        return Ok(Listed { count, page: Vec::new(), ctx });
    }
    let wanted = query.offset.saturating_add(query.limit).min(count);
    let company = store.company();
    let mut sources: Vec<(IndexPager<License>, VecDeque<License>, u32)> = products
        .iter()
        .map(|p| {
            let pager =
                IndexPager::new(keys::LICENSES_BY_VALIDITY, keys::licenses_by_validity(company, *p), !descending);
            (pager, VecDeque::new(), 0)
        })
        .collect();
    let mut orders: HashMap<Id, Option<Order>> = HashMap::new();
    let mut page = Vec::with_capacity(query.limit);
    let mut seen = 0usize;
    while seen < wanted {
        let mut heads = Vec::with_capacity(sources.len());
        for (i, (pager, buffer, pages)) in sources.iter_mut().enumerate() {
            while buffer.is_empty() {
                // Small first pages (every product is read at once), 4 times more each next one.
                let limit = (FIRST_PAGE << (2 * (*pages).min(8))).min(wanted - seen).clamp(1, MAX_PAGE_ITEMS);
                *pages += 1;
                match pager.next_page(store, limit).await? {
                    Some(rows) => buffer.extend(rows),
                    None => break,
                }
            }
            if let Some(front) = buffer.front() {
                heads.push((keys::license_validity_sk(front.validity_period.as_deref(), front.id), i));
            }
        }
        let next = if descending { heads.into_iter().max() } else { heads.into_iter().min() };
        let Some((_, i)) = next else { break };
        let Some(license) = sources[i].1.pop_front() else { break };
        if !principal.can_access(license.product) || !visible(store, &mut orders, &license).await? {
            continue;
        }
        seen += 1;
        if seen > query.offset {
            page.push(license);
        }
    }
    Ok(Listed { count, page, ctx })
}

/// Whether a staged license's order committed it (its order read once per request).
async fn visible(
    store: TenantStore<'_>,
    orders: &mut HashMap<Id, Option<Order>>,
    license: &License,
) -> Result<bool, ApiError> {
    if license.attempt.is_none() {
        return Ok(true);
    }
    let order = match orders.entry(license.order) {
        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
        std::collections::hash_map::Entry::Vacant(new) => new.insert(store.get::<Order>(license.order).await?),
    };
    Ok(order.as_ref().is_some_and(|o| o.shows(license)))
}
