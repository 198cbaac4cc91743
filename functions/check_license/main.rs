//! GET /api/v4/check_license (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::handlers::check_license_handler).await
}
