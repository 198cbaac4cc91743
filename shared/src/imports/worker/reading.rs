//! Reading the file: its size and version (pinned by ETag), ranged reads conditional on that
//! version, complete rows from a byte offset, and the counting pass.

use std::time::SystemTime;

use super::{first_message, unquoted, Run, WorkerError, WorkerOptions};
use crate::app::App;
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::imports::rows::{read_header, split_rows, Header, RawRow};
use crate::imports::ImportJob;
use crate::store::TenantStore;

/// Bytes read from S3 per request.
const RANGE_BYTES: u64 = 4 << 20;
/// The header row must fit in this many bytes.
const HEAD_BYTES: u64 = 64 << 10;
/// A job's reason when its file was replaced after its import started.
const FILE_CHANGED: &str = "The file changed during the import (another upload to the same URL).";

impl<'a> Run<'a> {
    pub(super) async fn start(
        app: &'a App,
        store: TenantStore<'a>,
        job: ImportJob,
        options: &WorkerOptions,
    ) -> Result<Run<'a>, WorkerError> {
        // The margin is at most a quarter of the time left, so a short-lived run (a small
        // function timeout, a local emulator) still makes progress before it hands over.
        let left = options.deadline.duration_since(SystemTime::now()).unwrap_or_default();
        let stop_at = options.deadline - options.stop_margin.min(left / 4);
        tracing::info!(ms_left = left.as_millis() as u64, next_row = job.next_row, "run started");
        let bucket = app
            .config
            .import_bucket
            .clone()
            .ok_or_else(|| WorkerError::Transient("IMPORT_BUCKET is not set".into()))?;
        let mut job = job;
        let head = app.s3.head_object().bucket(&bucket).key(&job.object_key).send().await;
        let (size, etag) = match head {
            Ok(head) => (head.content_length().unwrap_or(0).max(0) as u64, head.e_tag().map(unquoted)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Err(WorkerError::Fatal("The uploaded file is gone.".into()))
            }
            Err(err) => return Err(WorkerError::Transient(crate::store::error_text(&err))),
        };
        // The first run pins the version it reads; the job stores it with its first batch.
        match (&job.object_etag, etag) {
            (Some(pinned), Some(now)) if *pinned != now => return Err(WorkerError::Fatal(FILE_CHANGED.into())),
            (Some(_), _) => {}
            (None, now) => job.object_etag = now,
        }
        let principal = Principal {
            company: store.company(),
            products: job.products.as_ref().map(|p| p.iter().copied().collect()),
        };
        let ids = app.ids().await?;
        let catalog = Catalog::load(store).await?;
        let created = job.started_at.unwrap_or(job.created_at);
        let header = Header { columns: Vec::new(), data_start: 0 };
        let mut run =
            Run { app, store, job, stop_at, wrote_rows: false, principal, catalog, ids, header, size, created };
        let head = run.read_range(0, HEAD_BYTES).await?;
        run.header = read_header(&head).map_err(|err| WorkerError::Fatal(first_message(&err)))?;
        Ok(run)
    }

    pub(super) async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, WorkerError> {
        if self.size == 0 || start >= self.size {
            return Ok(Vec::new());
        }
        let end = (start + len).min(self.size) - 1;
        let bucket = self.app.config.import_bucket.as_deref().unwrap_or_default();
        let out = self
            .app
            .s3
            .get_object()
            .bucket(bucket)
            .key(&self.job.object_key)
            .range(format!("bytes={start}-{end}"))
            .set_if_match(self.job.object_etag.as_ref().map(|etag| format!("\"{etag}\"")))
            .send()
            .await
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                // Another upload replaced the file: the rest of it is not the file the job read.
                Some(412) => WorkerError::Fatal(FILE_CHANGED.into()),
                _ => WorkerError::Transient(crate::store::error_text(&e)),
            })?;
        let bytes = out.body.collect().await.map_err(|e| WorkerError::Transient(e.to_string()))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// The complete rows of the range from `start` (numbered from `first_row`) and whether it
    /// reaches the end of the file; `None` past the end.
    pub(super) async fn rows_from(
        &self,
        start: u64,
        first_row: u64,
    ) -> Result<Option<(Vec<RawRow>, bool)>, WorkerError> {
        if start >= self.size {
            return Ok(None);
        }
        let buf = self.read_range(start, RANGE_BYTES).await?;
        let at_end = start + buf.len() as u64 >= self.size;
        let rows = split_rows(&buf, start, first_row, at_end);
        if rows.is_empty() && !at_end {
            return Err(WorkerError::Fatal(format!("Row {first_row} is longer than {} MB.", RANGE_BYTES >> 20)));
        }
        Ok(Some((rows, at_end)))
    }

    /// Counts the data rows (once per job, for its progress).
    pub(super) async fn count_rows(&self) -> Result<u64, WorkerError> {
        let (mut at, mut count) = (self.header.data_start, 0);
        while let Some((rows, at_end)) = self.rows_from(at, count + 1).await? {
            count += rows.len() as u64;
            match rows.last() {
                Some(last) if !at_end => at = last.end,
                _ => break,
            }
        }
        Ok(count)
    }
}
