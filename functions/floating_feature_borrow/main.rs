//! POST /api/v4/floating/feature_borrow (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::floating::feature_borrow_handler).await
}
