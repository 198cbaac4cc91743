//! POST /api/v4/activate_bundle (LICENSE-API.md §4.2).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::bundles::activate_bundle_handler).await
}
