//! POST /api/v4/deactivate_license (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::handlers::deactivate_license_handler).await
}
