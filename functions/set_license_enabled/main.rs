//! `POST /api/v1/licenses/{id}/enable/` and `/disable/` (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::set_enabled_handler).await
}
