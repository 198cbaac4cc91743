//! An access path read as a stream in id order (issue 12, item 1; API.md §9): each source is
//! one GSI partition (a product, a customer, an order, a creation month) read a Query page at a
//! time, and the sources are merged by id (a k-way merge), so that a page of results costs the
//! Queries that reach it, never the whole path. A source opens only once the merge reaches
//! the first id it may hold, so that creation months past the page are never read.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use crate::ids::Id;
use crate::licenses::License;
use crate::orders::Order;
use crate::store::condition::Condition;
use crate::store::{from_item, IndexRange, Item, RangePage, StoreError, TenantStore, MAX_PAGE_ITEMS};

/// What a row read only to be counted carries: what its visibility and scope need.
#[derive(Debug, Clone, Deserialize)]
pub struct Stub {
    pub id: Id,
    pub order: Id,
    pub product: Id,
    #[serde(default)]
    pub attempt: Option<String>,
}

const STUB_ATTRIBUTES: &[&str] = &["id", "order", "product", "attempt"];

/// A license as read: whole, or as a [`Stub`] when only counted.
#[derive(Debug, Clone)]
pub enum Row {
    Full(Box<License>),
    Stub(Stub),
}

impl Row {
    pub fn id(&self) -> Id {
        match self {
            Row::Full(l) => l.id,
            Row::Stub(s) => s.id,
        }
    }

    pub fn product(&self) -> Id {
        match self {
            Row::Full(l) => l.product,
            Row::Stub(s) => s.product,
        }
    }

    fn order_and_attempt(&self) -> (Id, Option<&str>) {
        match self {
            Row::Full(l) => (l.order, l.attempt.as_deref()),
            Row::Stub(s) => (s.order, s.attempt.as_deref()),
        }
    }
}

/// One GSI partition of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub range: IndexRange,
    /// The lowest and highest id the source may hold: it is not read until the merge gets to
    /// the first of them in the reading direction (`(0, Id::MAX)`: read at once).
    pub ids: (Id, Id),
}

impl Source {
    /// The first id the source may hold in the reading direction.
    fn reach(&self, descending: bool) -> Id {
        if descending {
            self.ids.1
        } else {
            self.ids.0
        }
    }
}

struct Open {
    source: Source,
    buffer: VecDeque<Row>,
    next: Option<Item>,
    opened: bool,
    done: bool,
    /// Queries sent to this source (each next one may evaluate more items).
    pages: u32,
}

pub struct PathReader<'a> {
    store: TenantStore<'a>,
    sources: Vec<Open>,
    filter: Option<Condition>,
    descending: bool,
    /// Rows read from now on carry the whole license (else a [`Stub`]).
    pub full: bool,
    /// How many more rows the caller expects to take: an unfiltered Query asks for no more.
    pub wanted: usize,
    /// Orders of staged rows, for their visibility.
    orders: HashMap<Id, Option<Order>>,
    /// Queries sent (for the benchmark's and tests' accounting).
    pub queries: usize,
}

impl<'a> PathReader<'a> {
    pub fn new(store: TenantStore<'a>, sources: Vec<Source>, filter: Option<Condition>, descending: bool) -> Self {
        let sources = sources
            .into_iter()
            .map(|source| Open { source, buffer: VecDeque::new(), next: None, opened: false, done: false, pages: 0 })
            .collect();
        PathReader {
            store,
            sources,
            filter,
            descending,
            full: true,
            wanted: MAX_PAGE_ITEMS,
            orders: HashMap::new(),
            queries: 0,
        }
    }

    /// Replaces the filter of the Queries still to come (a tighter one as a top-k fills).
    pub fn set_filter(&mut self, filter: Option<Condition>) {
        self.filter = filter;
    }

    /// Whether `a` comes before `b` in the reading direction.
    fn before(&self, a: Id, b: Id) -> bool {
        if self.descending {
            a > b
        } else {
            a < b
        }
    }

    /// The rows read but not yet taken (to prefetch what evaluating them needs).
    pub fn buffered(&self) -> impl Iterator<Item = &Row> {
        self.sources.iter().flat_map(|s| s.buffer.iter())
    }

    /// The next visible row in the reading direction, or `None` at the end of the path.
    pub async fn next(&mut self) -> Result<Option<Row>, StoreError> {
        loop {
            let Some(row) = self.next_row().await? else { return Ok(None) };
            if self.visible(&row).await? {
                return Ok(Some(row));
            }
        }
    }

    async fn next_row(&mut self) -> Result<Option<Row>, StoreError> {
        loop {
            // An open source with nothing buffered may still hold the next row.
            if let Some(i) = self.sources.iter().position(|s| s.opened && !s.done && s.buffer.is_empty()) {
                self.fetch(i).await?;
                continue;
            }
            let head = self
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buffer.front().map(|row| (i, row.id())))
                .reduce(|best, x| if self.before(x.1, best.1) { x } else { best });
            // An unopened source that may hold a row before the head opens first.
            let waiting = self
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    !s.opened && head.is_none_or(|(_, id)| !self.before(id, s.source.reach(self.descending)))
                })
                .reduce(|best, x| {
                    let reach = |s: &Open| s.source.reach(self.descending);
                    if self.before(reach(x.1), reach(best.1)) {
                        x
                    } else {
                        best
                    }
                })
                .map(|(i, _)| i);
            if let Some(i) = waiting {
                self.fetch(i).await?;
                continue;
            }
            return Ok(head.and_then(|(i, _)| self.sources[i].buffer.pop_front()));
        }
    }

    async fn fetch(&mut self, i: usize) -> Result<(), StoreError> {
        let readers = self.sources.iter().filter(|s| s.opened && !s.done).count().max(1);
        let pages = self.sources[i].pages.min(8);
        let limit = match (&self.filter, self.full) {
            (None, true) => self.wanted.clamp(1, MAX_PAGE_ITEMS),
            // Filtered: as many as wanted first, then 4 times more each Query (sparse matches
            // soon read whole pages; dense ones never read far past the page), the pages
            // shared by the sources merged at once.
            (Some(_), true) => (self.wanted.max(1) << (2 * pages)).clamp(1, (MAX_PAGE_ITEMS / readers).max(100)),
            // Only counted: 100 first (a side of a count race may well be empty), then more.
            (_, false) => (100 << (2 * pages)).min(MAX_PAGE_ITEMS),
        };
        let source = &mut self.sources[i];
        source.opened = true;
        source.pages += 1;
        let (items, next) = self
            .store
            .query_range_page(RangePage {
                range: &source.source.range,
                forward: !self.descending,
                limit,
                start: source.next.take(),
                filter: self.filter.as_ref(),
                projection: (!self.full).then_some(STUB_ATTRIBUTES),
            })
            .await?;
        self.queries += 1;
        for item in items {
            source.buffer.push_back(if self.full {
                Row::Full(Box::new(from_item(item)?))
            } else {
                Row::Stub(from_item(item)?)
            });
        }
        source.done = next.is_none();
        source.next = next;
        Ok(())
    }

    /// Counts the visible rows of at most `queries` more Queries, in no particular order;
    /// `true` once the path is read to its end.
    pub async fn count_pages(&mut self, queries: usize) -> Result<(usize, bool), StoreError> {
        let mut counted = 0;
        let mut sent = 0;
        loop {
            let rows: Vec<Row> = self.sources.iter_mut().flat_map(|s| s.buffer.drain(..)).collect();
            for row in rows {
                if self.visible(&row).await? {
                    counted += 1;
                }
            }
            let Some(i) = self.sources.iter().position(|s| !s.done) else { return Ok((counted, true)) };
            if sent == queries {
                return Ok((counted, false));
            }
            self.fetch(i).await?;
            sent += 1;
        }
    }

    /// Counts the visible rows left on the path (those buffered and every source not read to
    /// its end), reading up to `concurrency` sources at once as stubs: a count needs no order,
    /// and each creation month or product is its own partition.
    pub async fn count_rest(&mut self, concurrency: usize) -> Result<usize, StoreError> {
        use futures_util::stream::{StreamExt, TryStreamExt};
        let mut staged: Vec<Row> = Vec::new();
        let mut counted = 0;
        for row in self.sources.iter_mut().flat_map(|s| s.buffer.drain(..)) {
            match row.order_and_attempt().1 {
                None => counted += 1,
                Some(_) => staged.push(row),
            }
        }
        let (store, filter, descending) = (self.store, self.filter.as_ref(), self.descending);
        let left: Vec<(IndexRange, Option<Item>)> =
            self.sources.iter_mut().filter(|s| !s.done).map(|s| (s.source.range.clone(), s.next.take())).collect();
        let counts: Vec<(usize, Vec<Row>, usize)> = futures_util::stream::iter(left)
            .map(|(range, mut start)| async move {
                let (mut plain, mut staged, mut queries) = (0, Vec::new(), 0);
                loop {
                    let (items, next) = store
                        .query_range_page(RangePage {
                            range: &range,
                            forward: !descending,
                            limit: MAX_PAGE_ITEMS,
                            start,
                            filter,
                            projection: Some(STUB_ATTRIBUTES),
                        })
                        .await?;
                    queries += 1;
                    for item in items {
                        let stub: Stub = from_item(item)?;
                        match stub.attempt {
                            None => plain += 1,
                            Some(_) => staged.push(Row::Stub(stub)),
                        }
                    }
                    match next {
                        Some(next) => start = Some(next),
                        None => return Ok::<_, StoreError>((plain, staged, queries)),
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        for source in &mut self.sources {
            source.done = true;
            source.opened = true;
        }
        for (plain, rows, queries) in counts {
            counted += plain;
            self.queries += queries;
            staged.extend(rows);
        }
        for row in staged {
            if self.visible(&row).await? {
                counted += 1;
            }
        }
        Ok(counted)
    }

    /// A row of a staged write shows once its order lists the write.
    async fn visible(&mut self, row: &Row) -> Result<bool, StoreError> {
        let (order, attempt) = row.order_and_attempt();
        if attempt.is_none() {
            return Ok(true);
        }
        if !self.orders.contains_key(&order) {
            let found = self.store.get::<Order>(order).await?;
            self.orders.insert(order, found);
        }
        Ok(self.orders[&order].as_ref().is_some_and(|o| o.shows_attempt(attempt)))
    }
}
