//! The import endpoints, one handler per Lambda: the two ways to upload a file, and the jobs'
//! results.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use lambda_http::http::{header, Method};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::rows::{file_as_utf8, read_header};
use super::{invalid_rows, ImportJob, JobStatus};
use crate::app::{respond, route, App};
use crate::auth::Principal;
use crate::error::{ApiError, FieldErrors};
use crate::http::{body_bytes, json_object, ok, query_pairs};
use crate::input::{Input, SHORT_TEXT};
use crate::listing::{
    page_body, page_from_index, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT, MAX_RESULTS_BYTES,
};
use crate::store::{keys, IndexPager, TenantStore};

/// Bodies above this go through `upload_url`: API Gateway and Lambda take about 6 MB, and a
/// multipart body carries its framing besides the file.
pub const MAX_UPLOAD_BODY: usize = 5 * 1024 * 1024;
/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_SECONDS: u64 = 900;

const FILE_FIELD_MESSAGE: &str = "Send the CSV file as multipart/form-data under the key \"file\".";

/// `POST /api/v1/licenses/import_from_csv/` (multipart, key `file`): the encoding (UTF-8, or
/// UTF-16 with a byte-order mark, converted) and the header row are checked at once, then the
/// file is stored and its job answered; the S3 event starts the worker.
pub async fn import_from_csv_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "import_from_csv"], Method::POST).await?;
        if body_bytes(&req).len() > MAX_UPLOAD_BODY {
            return Err(ApiError::PayloadTooLarge(format!(
                "The upload exceeds {} MB. Ask POST /api/v1/licenses/import_from_csv/upload_url/ for an upload_url \
                 and PUT the file there.",
                MAX_UPLOAD_BODY >> 20
            )));
        }
        let (file_name, data) = read_file_field(&req).await?;
        // Stored as UTF-8 (a UTF-16 file converted), checked whole: nothing queued otherwise.
        let data = Bytes::from(file_as_utf8(&data)?.into_owned());
        read_header(&data)?;
        let store = app.store.tenant(routed.principal.company);
        let job = new_job(app, store, &routed.principal, &file_name).await?;
        let bucket = import_bucket(app)?;
        let stored = app.s3.put_object().bucket(bucket).key(&job.object_key).body(data.into()).send().await;
        if let Err(err) = stored {
            mark_unstored(store, &job).await;
            return Err(ApiError::Internal(format!("storing the import file: {}", crate::store::error_text(&err))));
        }
        Ok(ok(&json!({"job_id": job.id})))
    })
    .await
}

/// `POST /api/v1/licenses/import_from_csv/upload_url/` (optional `{"file_name": …}`): a job
/// and a presigned S3 PUT for its file. The header is checked by the worker (a bad one fails
/// the job with the reason).
pub async fn upload_url_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "import_from_csv", "upload_url"], Method::POST).await?;
        let body = json_object(&req)?;
        let mut errors = FieldErrors::default();
        let file_name = Input::new(&body, &mut errors).string("file_name", SHORT_TEXT);
        errors.into_result()?;
        let store = app.store.tenant(routed.principal.company);
        let job = new_job(app, store, &routed.principal, file_name.as_deref().unwrap_or("upload.csv")).await?;
        let expiry = PresigningConfig::expires_in(Duration::from_secs(UPLOAD_URL_SECONDS))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let presigned = app
            .s3
            .put_object()
            .bucket(import_bucket(app)?)
            .key(&job.object_key)
            .presigned(expiry)
            .await
            .map_err(|e| ApiError::Internal(format!("presigning: {}", crate::store::error_text(&e))))?;
        Ok(ok(&json!({"job_id": job.id, "upload_url": presigned.uri(), "expires_in": UPLOAD_URL_SECONDS})))
    })
    .await
}

/// `GET /api/v1/licenses-import-results/` (filter `status__iexact`, `order_by`, pagination).
/// Jobs are company-wide, as customers are: a scoped manager sees every import of the company.
pub async fn list_import_results_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses-import-results"], Method::GET).await?;
        let query = ListQuery::parse(&query_pairs(&req), FILTERS, ORDERS, ListRules::of(&req, MAX_LIMIT))?;
        let store = app.store.tenant(routed.principal.company);
        // The company's jobs a Query page at a time (GSI1), counted by their counter when
        // nothing filters (API.md §9); each job's invalid rows read for up to 16 jobs at once.
        let forward = !query.index_order().unwrap_or(false);
        let mut pager = IndexPager::new(1, keys::imports_gsi1pk(store.company()), forward);
        let count = match query.filters.is_empty() {
            true => Some(store.entity_count::<ImportJob>().await?.max(0) as usize),
            false => None,
        };
        let (count, page) = page_from_index(store, &query, &(), count, &mut pager, |_| true).await?;
        let mut results = Vec::with_capacity(page.len());
        let mut bytes = 0;
        'render: for chunk in page.chunks(16) {
            let rows = futures_util::future::try_join_all(chunk.iter().map(|job| invalid_rows(store, job))).await?;
            for (job, rows) in chunk.iter().zip(rows) {
                let result = job.render(&rows);
                bytes += crate::listing::json_len(&result);
                results.push(result);
                if bytes > MAX_RESULTS_BYTES {
                    break 'render;
                }
            }
        }
        Ok(ok(&page_body(&req, count, query.limit, query.offset, results)))
    })
    .await
}

/// `GET /api/v1/licenses-import-results/{id}/`.
pub async fn get_import_result_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses-import-results", "{id}"], Method::GET).await?;
        let store = app.store.tenant(routed.principal.company);
        let id = routed.id.ok_or(ApiError::NotFound)?;
        let job = store.get::<ImportJob>(id).await?.ok_or(ApiError::NotFound)?;
        Ok(ok(&job.render(&invalid_rows(store, &job).await?)))
    })
    .await
}

static FILTERS: &[FilterSpec<ImportJob, ()>] =
    &[FilterSpec { param: "status__iexact", lookup: Lookup::IExact, field: |j, _| j.status.as_str().into() }];

/// Every scalar of the result JSON (API.md §1).
static ORDERS: &[OrderSpec<ImportJob, ()>] = &[
    OrderSpec { name: "id", key: |j, _| j.id.into() },
    OrderSpec { name: "created_at", key: |j, _| j.id.into() },
    OrderSpec { name: "file_name", key: |j, _| (&j.file_name).into() },
    OrderSpec { name: "status", key: |j, _| j.status.as_str().into() },
    OrderSpec { name: "started_at", key: |j, _| j.started_at.into() },
    OrderSpec { name: "finished_at", key: |j, _| j.finished_at.into() },
    OrderSpec { name: "error", key: |j, _| j.error.as_deref().into() },
];

/// The `file` part of a multipart body: its file name and content.
async fn read_file_field(req: &Request) -> Result<(String, Bytes), ApiError> {
    let bad = |detail: String| ApiError::field("file", detail);
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| bad(FILE_FIELD_MESSAGE.into()))?;
    let body = Bytes::copy_from_slice(body_bytes(req));
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().filter(|n| !n.trim().is_empty()).unwrap_or("upload.csv").to_string();
                let data = field.bytes().await.map_err(|e| bad(format!("The multipart body is malformed: {e}.")))?;
                return Ok((name, data));
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(bad(FILE_FIELD_MESSAGE.into())),
            Err(e) => return Err(bad(format!("The multipart body is malformed: {e}."))),
        }
    }
}

fn import_bucket(app: &App) -> Result<&str, ApiError> {
    app.config.import_bucket.as_deref().ok_or_else(|| ApiError::Internal("IMPORT_BUCKET is not set".into()))
}

/// Records a pending job (before its file exists, so the worker always finds it).
async fn new_job(
    app: &App,
    store: TenantStore<'_>,
    principal: &Principal,
    file_name: &str,
) -> Result<ImportJob, ApiError> {
    let products = principal.products.as_ref().map(|set| {
        let mut products: Vec<_> = set.iter().copied().collect();
        products.sort_unstable();
        products
    });
    let job = ImportJob::new(app.ids().await?.next_id(), store.company(), file_name, products, crate::timefmt::now());
    let mut tx = store.transaction();
    tx.create(&job)?;
    tx.commit().await?;
    Ok(job)
}

/// A job whose file could not be stored will never run: say so in it (best effort).
async fn mark_unstored(store: TenantStore<'_>, job: &ImportJob) {
    let mut failed = job.next_version(crate::timefmt::now());
    failed.status = JobStatus::Error;
    failed.error = Some("The file could not be stored; upload it again.".into());
    failed.finished_at = Some(failed.updated_at);
    let mut tx = store.transaction();
    if tx.replace(job, &failed).is_err() || tx.commit().await.is_err() {
        tracing::error!(job = job.id, "could not mark an unstored import job failed");
    }
}
