//! `/api/v1/customers/` and `/{id}/`: create, list, retrieve, patch.
use shared::catalog::{handle, Customer};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(handle::<Customer>).await
}
