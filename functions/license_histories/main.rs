//! `GET /api/v1/license-histories/` and `/{id}/`: what changed on licenses, newest first (API.md §8.4).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::history::license_histories_handler).await
}
