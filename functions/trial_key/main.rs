//! GET /api/v4/trial_key (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::trials::trial_key_handler).await
}
