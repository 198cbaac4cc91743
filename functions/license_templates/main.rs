//! `/api/v1/license-templates/` and `/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, LicenseTemplate};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<LicenseTemplate>).await
}
