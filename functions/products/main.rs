//! `/api/v1/products/` and `/api/v1/products/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, Product};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<Product>).await
}
