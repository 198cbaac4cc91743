//! Reading the file: its size and version (pinned by ETag), a UTF-16 file converted to UTF-8,
//! ranged reads conditional on the version, complete rows from a byte offset, and the counting
//! pass (which also checks the encoding of every line before anything is written).

use std::time::SystemTime;

use super::{first_message, unquoted, Run, WorkerError, WorkerOptions};
use crate::app::App;
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::imports::rows::{first_bad_line, not_text, read_header, split_rows, utf16_encoding, Header, RawRow};
use crate::imports::ImportJob;
use crate::store::{keys, TenantStore};

fn transient(err: &(dyn std::error::Error + 'static)) -> WorkerError {
    WorkerError::Transient(crate::store::error_text(err))
}

/// Bytes read from S3 per request (even: UTF-16 files are read in whole code units).
const RANGE_BYTES: u64 = 4 << 20;
/// Parts of a converted file (S3's multipart minimum is 5 MiB, but for the last part).
const PART_BYTES: usize = 8 << 20;
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
            key_prefix: "import".into(),
        };
        let ids = app.ids().await?;
        let catalog = Catalog::load(store).await?;
        let created = job.started_at.unwrap_or(job.created_at);
        let header = Header { columns: Vec::new(), data_start: 0, delimiter: b',' };
        let mut run =
            Run { app, store, job, stop_at, wrote_rows: false, principal, catalog, ids, header, size, created };
        let mut head = run.read_range(0, HEAD_BYTES).await?;
        if let Some(encoding) = utf16_encoding(&head) {
            run.convert_to_utf8(encoding).await?;
            head = run.read_range(0, HEAD_BYTES).await?;
        }
        run.header = read_header(&head).map_err(|err| WorkerError::Fatal(first_message(&err)))?;
        Ok(run)
    }

    /// Replaces a UTF-16 file (Excel's "Unicode Text") by its UTF-8 conversion beside it, read
    /// and written in ranges (an S3 multipart upload), and makes the job read that instead.
    /// The converted object's own S3 event is ignored: it is not the job's upload.
    async fn convert_to_utf8(&mut self, encoding: &'static encoding_rs::Encoding) -> Result<(), WorkerError> {
        let s3 = &self.app.s3;
        let bucket = self.app.config.import_bucket.clone().unwrap_or_default();
        let key = keys::import_converted_object_key(&self.job.object_key);
        let upload = s3.create_multipart_upload().bucket(&bucket).key(&key).send().await.map_err(|e| transient(&e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let mut decoder = encoding.new_decoder_with_bom_removal();
        let (mut at, mut lines, mut parts) = (0, 1u64, Vec::new());
        let mut pending: Vec<u8> = Vec::new();
        loop {
            // Ranges of an even length keep UTF-16 code units whole (the decoder keeps a split
            // surrogate pair for the next range).
            let buf = self.read_range(at, RANGE_BYTES).await?;
            at += buf.len() as u64;
            let last = at >= self.size;
            let mut text = String::with_capacity(buf.len());
            let (_, _, malformed) = decoder.decode_to_string(&buf, &mut text, last);
            if malformed {
                let line = lines + text.split('\n').position(|l| l.contains('\u{FFFD}')).unwrap_or(0) as u64;
                return Err(WorkerError::Fatal(not_text(line)));
            }
            lines += text.matches('\n').count() as u64;
            pending.extend_from_slice(text.as_bytes());
            if pending.len() >= PART_BYTES || (last && (!pending.is_empty() || parts.is_empty())) {
                let number = parts.len() as i32 + 1;
                let part = s3
                    .upload_part()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(std::mem::take(&mut pending).into())
                    .send()
                    .await
                    .map_err(|e| transient(&e))?;
                parts.push(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                );
            }
            if last {
                break;
            }
        }
        let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        s3.complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| transient(&e))?;
        let head = s3.head_object().bucket(&bucket).key(&key).send().await.map_err(|e| transient(&e))?;
        self.size = head.content_length().unwrap_or(0).max(0) as u64;
        self.job.object_etag = head.e_tag().map(unquoted);
        self.job.object_key = key;
        tracing::info!(bytes = self.size, "converted a UTF-16 file to UTF-8");
        Ok(())
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
        Ok(self.chunk_from(start, first_row).await?.map(|(rows, at_end, _)| (rows, at_end)))
    }

    /// `rows_from`, with the bytes the rows were read from.
    async fn chunk_from(
        &self,
        start: u64,
        first_row: u64,
    ) -> Result<Option<(Vec<RawRow>, bool, Vec<u8>)>, WorkerError> {
        if start >= self.size {
            return Ok(None);
        }
        let buf = self.read_range(start, RANGE_BYTES).await?;
        let at_end = start + buf.len() as u64 >= self.size;
        let rows = split_rows(&buf, start, first_row, at_end, self.header.delimiter);
        if rows.is_empty() && !at_end {
            return Err(WorkerError::Fatal(format!("Row {first_row} is longer than {} MB.", RANGE_BYTES >> 20)));
        }
        Ok(Some((rows, at_end, buf)))
    }

    /// Counts the data rows (once per job, for its progress, before any row is written), and
    /// checks that the whole file is UTF-8: a line that is not ends the job before it writes.
    pub(super) async fn count_rows(&self) -> Result<u64, WorkerError> {
        let (mut at, mut count) = (self.header.data_start, 0);
        // The header row is line 1 (its own line breaks are not in the data).
        let mut line = 2;
        while let Some((rows, at_end, buf)) = self.chunk_from(at, count + 1).await? {
            count += rows.len() as u64;
            let read = rows.last().map_or(buf.len(), |last| (last.end - at) as usize).min(buf.len());
            if let Some(bad) = first_bad_line(&buf[..read], line) {
                return Err(WorkerError::Fatal(not_text(bad)));
            }
            line += buf[..read].iter().filter(|b| **b == b'\n').count() as u64;
            match rows.last() {
                Some(last) if !at_end => at = last.end,
                _ => break,
            }
        }
        Ok(count)
    }
}
