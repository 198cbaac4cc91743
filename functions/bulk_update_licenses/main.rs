//! `PATCH /api/v1/licenses/bulk_update/`: change up to 50 licenses at once, all or nothing (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::bulk_update_handler).await
}
