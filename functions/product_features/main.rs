//! `/api/v1/product-features/` and `/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, Feature};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<Feature>).await
}
