//! Configuration from the environment, read once at cold start.

#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the single DynamoDB table.
    pub table_name: String,
    /// `IMPORT_BUCKET`: where CSV imports are stored (functions that do not import may omit it).
    pub import_bucket: Option<String>,
    /// `IMPORT_QUEUE_URL`: the queue the import worker reads.
    pub import_queue_url: Option<String>,
    /// `LICENSE_API_SECRET`: the Secrets Manager secret holding the License API's signing and
    /// credentials keys (`license_api::keys`; functions of the License API only).
    pub license_api_secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("missing environment variable {0}")]
pub struct MissingVar(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Self, MissingVar> {
        let optional = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Self {
            table_name: optional("TABLE_NAME").ok_or(MissingVar("TABLE_NAME"))?,
            import_bucket: optional("IMPORT_BUCKET"),
            import_queue_url: optional("IMPORT_QUEUE_URL"),
            license_api_secret: optional("LICENSE_API_SECRET"),
        })
    }
}
