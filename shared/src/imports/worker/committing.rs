//! Running a job: windows of rows imported batch by batch, each batch committed with the
//! job's checkpoint, and the run's end (finished, or released for a follow-up).

use std::time::{Duration, SystemTime};

use super::{Batch, Known, Prepared, Run, WorkerError};
use crate::imports::rows::RawRow;
use crate::imports::{Counted, ImportJob, InvalidPage, JobStatus};
use crate::licenses::history::{Action, Recorder};
use crate::orders::Order;
use crate::store::{keys, later_than, LicenseTally, StoreError};

/// Rows looked up together (one set of batched reads).
const WINDOW_ROWS: usize = 500;
/// How long, and how often, a window waits for a staged order write that holds one of its
/// keys to commit or roll back (a crashed one is rolled back by the sweeper, within minutes;
/// past the waits the message comes back later).
const STAGED_WAIT: Duration = Duration::from_secs(1);
const STAGED_WAITS: usize = 30;
/// Races lost in a row (each after a smaller batch and a longer pause) before the run gives up
/// (the message is retried).
const LOST_RACES: u32 = 12;

impl<'a> Run<'a> {
    pub(super) fn out_of_time(&self) -> bool {
        self.wrote_rows && SystemTime::now() >= self.stop_at
    }

    /// Imports from the checkpoint on; `false` if the run ran out of time first.
    pub(super) async fn import(&mut self) -> Result<bool, WorkerError> {
        if self.job.total_rows.is_none() {
            self.job.total_rows = Some(self.count_rows().await?);
        }
        loop {
            let start = self.job.next_offset.max(self.header.data_start);
            let Some((rows, at_end)) = self.rows_from(start, self.job.next_row).await? else { return Ok(true) };
            for window in rows.chunks(WINDOW_ROWS) {
                if self.out_of_time() {
                    return Ok(false);
                }
                self.import_window(window).await?;
                self.wrote_rows = true;
            }
            if at_end {
                return Ok(true);
            }
        }
    }

    pub(super) async fn import_window(&mut self, rows: &[RawRow]) -> Result<(), WorkerError> {
        let prepared: Vec<(&RawRow, Prepared)> = rows.iter().map(|row| (row, self.prepare(row))).collect();
        let mut done = 0;
        // Lost races in a row, and the batch size after them: each lost race halves the next
        // batch (fewer customers and orders to race for) after a backoff; a commit restores it.
        let mut lost = 0;
        let mut max_rows = usize::MAX;
        let mut waits = 0;
        while done < prepared.len() {
            let mut known = self.look_up(&prepared[done..]).await?;
            while done < prepared.len() {
                let batch = self.plan(&prepared[done..], &known, max_rows)?;
                let rows = batch.rows;
                if rows == 0 && batch.blocked {
                    // A staged order write holds the next row's key: wait for it to settle.
                    waits += 1;
                    if waits > STAGED_WAITS {
                        return Err(WorkerError::Transient(
                            "a row's key stays held by an unsettled order write".into(),
                        ));
                    }
                    tokio::time::sleep(STAGED_WAIT).await;
                    break;
                }
                match self.commit(batch, &mut known).await? {
                    true => {
                        done += rows;
                        lost = 0;
                        max_rows = usize::MAX;
                    }
                    false => {
                        lost += 1;
                        if lost >= LOST_RACES {
                            return Err(WorkerError::Transient("rows kept losing races with other writers".into()));
                        }
                        max_rows = (rows / 2).max(1);
                        let pause = 20u64 << lost.min(6);
                        tokio::time::sleep(Duration::from_millis(pause + rand::random_range(0..pause))).await;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes a batch with the job's checkpoint in one transaction. `false`: a condition
    /// failed (another writer got there first); look up and plan again.
    pub(super) async fn commit(&mut self, batch: Batch, known: &mut Known) -> Result<bool, WorkerError> {
        let company = self.store.company();
        let mut tx = self.store.transaction();
        for (before, after) in batch.customers.values() {
            match before {
                Some(before) => tx.replace(before, after)?,
                None => tx.create_after_lookup(after)?,
            }
        }
        for (before, after) in batch.orders.values() {
            match before {
                Some(before) => tx.replace(before, after)?,
                None => tx.create_after_lookup(after)?,
            }
        }
        let now = crate::timefmt::now();
        let mut added = Vec::new();
        for (id, n) in &batch.order_adds {
            let updated_at = known.orders.get(id).map_or(now, |o| later_than(o.updated_at).max(now));
            tx.add_to::<Order>(*id, "license_count", *n, updated_at)?;
            added.push((*id, *n, updated_at));
        }
        // Each license with its `imported` history entry (API.md §8.4).
        let history = Recorder { principal: &self.principal, now };
        for license in &batch.licenses {
            tx.create(license)?;
            tx.create(&history.creation(license, Action::Imported))?;
        }
        if !batch.licenses.is_empty() {
            tx.count_licenses(&LicenseTally::of(batch.licenses.iter().map(|l| (l.product, l.created_at))))?;
        }
        let pk = keys::import_pk(company, self.job.id);
        for marker in &batch.counted {
            tx.create_record(pk.clone(), marker.clone(), &Counted { job: self.job.id }, "COUNTED")?;
        }
        if !batch.invalid.is_empty() {
            let page = InvalidPage { rows: batch.invalid.clone() };
            tx.create_record(pk.clone(), keys::import_invalid_sk(batch.first_row), &page, "INVALID_ROWS")?;
        }
        let mut job = self.job.next_version(crate::timefmt::now());
        let (c, d) = (&mut job.counts, &batch.counts);
        c.total_row_count += d.total_row_count;
        c.valid_row_count += d.valid_row_count;
        c.created_customers_count += d.created_customers_count;
        c.existed_customers_count += d.existed_customers_count;
        c.created_orders_count += d.created_orders_count;
        c.existed_orders_count += d.existed_orders_count;
        c.created_licenses_count += d.created_licenses_count;
        c.existed_licenses_count += d.existed_licenses_count;
        job.next_offset = batch.end;
        job.next_row = batch.next_row;
        job.invalid_recorded += batch.invalid.len() as u64;
        tx.replace(&self.job, &job)?;
        match tx.commit().await {
            Ok(()) => {}
            Err(StoreError::Stale(_) | StoreError::Conflict(_)) => {
                let current = self.store.get::<ImportJob>(self.job.id).await?;
                if current.is_none_or(|j| j.updated_at != self.job.updated_at) {
                    return Err(WorkerError::LeaseLost);
                }
                return Ok(false);
            }
            Err(err) => return Err(err.into()),
        }
        self.job = job;
        for (_, after) in batch.customers.into_values() {
            known.customer_ids.insert(after.email.to_lowercase(), after.id);
            known.customers.insert(after.id, after);
        }
        for (_, after) in batch.orders.into_values() {
            known.order_ids.insert(after.store_id.clone(), after.id);
            known.orders.insert(after.id, after);
        }
        for (id, n, updated_at) in added {
            if let Some(order) = known.orders.get_mut(&id) {
                order.license_count += n;
                order.updated_at = updated_at;
            }
        }
        for license in batch.licenses {
            known.taken_keys.insert((license.product, license.license_key.unwrap_or_default()));
        }
        known.counted.extend(batch.counted);
        Ok(true)
    }

    /// Ends the run: the job finished, or released for the follow-up.
    pub(super) async fn end(&mut self, finished: bool) -> Result<(), WorkerError> {
        let now = crate::timefmt::now();
        let mut next = self.job.next_version(now);
        next.lease = None;
        if finished {
            next.status = JobStatus::Success;
            next.finished_at = Some(now);
        }
        let mut tx = self.store.transaction();
        tx.replace(&self.job, &next)?;
        match tx.commit().await {
            Ok(()) => {
                self.job = next;
                Ok(())
            }
            Err(StoreError::Stale(_)) => Err(WorkerError::LeaseLost),
            Err(err) => Err(err.into()),
        }
    }
}
