//! GET /api/v4/check_license_feature (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::usage::check_license_feature_handler).await
}
