//! `/api/v1/customer-accounts/` and `/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, CustomerAccount};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<CustomerAccount>).await
}
