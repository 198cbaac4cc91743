//! `/api/v1/product-custom-fields/` and `/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, CustomField};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<CustomField>).await
}
