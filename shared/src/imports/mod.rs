//! CSV license imports (seed 000, API.md §6): the upload endpoints store the file in S3 and
//! record a job; S3 → SQS starts the worker, which reads the file in ranges and writes each
//! batch of rows in one transaction together with the job's checkpoint (see `worker`).

pub mod handlers;
pub mod rows;
pub mod worker;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::ids::Id;
use crate::store::{keys, later_than, Entity, IndexKey, StoreError, TenantStore};
use crate::timefmt::{format_time, rfc3339, rfc3339_option};

/// Invalid rows reported with their messages; beyond this many a job only counts them, so
/// that its result stays a readable response (the count is always exact).
pub const MAX_INVALID_DETAILS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Success,
    Error,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Error)
    }
}

/// The counts of §6's `result`, for the rows read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total_row_count: u64,
    pub valid_row_count: u64,
    pub created_customers_count: u64,
    pub existed_customers_count: u64,
    pub created_orders_count: u64,
    pub existed_orders_count: u64,
    pub created_licenses_count: u64,
    pub existed_licenses_count: u64,
}

/// Which worker run holds a job, and until when (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub until_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: Id,
    pub file_name: String,
    /// The S3 object of the file.
    pub object_key: String,
    /// The version of the object the job imports (its ETag, without quotes), recorded when a
    /// run first reads it: every later read is conditional on it, so a second upload to the
    /// same presigned URL can never mix two files into one job.
    #[serde(default)]
    pub object_etag: Option<String>,
    pub status: JobStatus,
    /// The products the importing API key may manage (`None`: all), checked per row.
    pub products: Option<Vec<Id>>,
    pub total_rows: Option<u64>,
    pub counts: Counts,
    /// Checkpoint: where the next unread data row starts, and its 1-based number.
    pub next_offset: u64,
    pub next_row: u64,
    /// Invalid rows recorded with their messages (at most `MAX_INVALID_DETAILS`).
    pub invalid_recorded: u64,
    pub lease: Option<Lease>,
    /// Why a job ended in `error`.
    pub error: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339_option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339_option")]
    pub finished_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for ImportJob {
    const KIND: &'static str = "IMPORT";
    const COUNTED: bool = true;
    const NAME: &'static str = "import job";

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::import_pk(company, id), keys::IMPORT_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        vec![IndexKey { index: 1, pk: keys::imports_gsi1pk(company), sk: keys::padded(self.id) }]
    }
}

/// One invalid data row: its 1-based number and the messages per CSV column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidRow {
    pub row: u64,
    pub errors: BTreeMap<String, Vec<String>>,
}

/// The invalid rows of one written batch, stored beside the job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvalidPage {
    #[serde(with = "crate::catalog::json_text")]
    pub rows: Vec<InvalidRow>,
}

/// A marker that a job has counted a customer or an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counted {
    pub job: Id,
}

impl ImportJob {
    /// A job waiting for its file.
    pub fn new(id: Id, company: Id, file_name: &str, products: Option<Vec<Id>>, now: OffsetDateTime) -> Self {
        ImportJob {
            id,
            file_name: file_name.to_string(),
            object_key: keys::import_object_key(company, id, &object_name(file_name)),
            object_etag: None,
            status: JobStatus::Pending,
            products,
            total_rows: None,
            counts: Counts::default(),
            next_offset: 0,
            next_row: 1,
            invalid_recorded: 0,
            lease: None,
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }

    /// A copy to write in place of this one: `updated_at` strictly later, since writes of a job
    /// are conditional on the `updated_at` they read.
    pub fn next_version(&self, now: OffsetDateTime) -> Self {
        let mut next = self.clone();
        next.updated_at = later_than(self.updated_at).max(now);
        next
    }

    /// The JSON of §6 (plus `error`, the reason of a failed job).
    pub fn render(&self, invalid_rows: &[InvalidRow]) -> Value {
        let c = &self.counts;
        let result = (self.status != JobStatus::Pending).then(|| {
            json!({
                "total_row_count": c.total_row_count,
                "valid_row_count": c.valid_row_count,
                "invalid_rows": invalid_rows,
                "created_customers_count": c.created_customers_count,
                "existed_customers_count": c.existed_customers_count,
                "created_orders_count": c.created_orders_count,
                "existed_orders_count": c.existed_orders_count,
                "created_licenses_count": c.created_licenses_count,
                "existed_licenses_count": c.existed_licenses_count,
            })
        });
        json!({
            "id": self.id,
            "file_name": self.file_name,
            "status": self.status.as_str(),
            "created_at": format_time(self.created_at),
            "started_at": self.started_at.map(format_time),
            "finished_at": self.finished_at.map(format_time),
            "progress": {"processed_rows": c.total_row_count, "total_rows": self.total_rows},
            "result": result,
            "error": self.error,
        })
    }
}

/// The recorded invalid rows of a job, in row order.
pub async fn invalid_rows(store: TenantStore<'_>, job: &ImportJob) -> Result<Vec<InvalidRow>, StoreError> {
    if job.invalid_recorded == 0 {
        return Ok(Vec::new());
    }
    let pages: Vec<InvalidPage> =
        store.query_sk_prefix(keys::import_pk(store.company(), job.id), keys::IMPORT_INVALID_PREFIX).await?;
    Ok(pages.into_iter().flat_map(|p| p.rows).collect())
}

/// The file name as part of an S3 key: letters, digits, `.`, `-`, `_` kept, anything else `_`,
/// at most 100 characters (the job keeps the name as given).
fn object_name(file_name: &str) -> String {
    let name: String = file_name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    if name.trim_matches(['.', '_']).is_empty() {
        "upload.csv".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_safe_key_parts() {
        assert_eq!(object_name("licenses 2026 (final).csv"), "licenses_2026__final_.csv");
        assert_eq!(object_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(object_name(".."), "upload.csv");
        assert_eq!(object_name(""), "upload.csv");
        assert_eq!(object_name(&"x".repeat(300)).len(), 100);
        let job = ImportJob::new(7, 3, "a b.csv", None, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(keys::import_object_owner(&job.object_key), Some((3, 7)));
    }

    #[test]
    fn a_pending_job_has_no_result_yet() {
        let job = ImportJob::new(7, 3, "a.csv", None, OffsetDateTime::UNIX_EPOCH);
        let json = job.render(&[]);
        assert_eq!(json["status"], "pending");
        assert_eq!(json["result"], Value::Null);
        assert_eq!(json["progress"], json!({"processed_rows": 0, "total_rows": null}));
        let mut running = job.next_version(OffsetDateTime::UNIX_EPOCH);
        assert!(running.updated_at > job.updated_at);
        running.status = JobStatus::Running;
        assert_eq!(running.render(&[])["result"]["created_licenses_count"], 0);
    }
}
