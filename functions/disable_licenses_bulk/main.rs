//! `POST /api/v1/licenses/disable_bulk/`: disable up to 1,000 licenses, idempotently (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::disable_bulk_handler).await
}
