//! GET /api/v4/user_licenses (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::directory::user_licenses_handler).await
}
