//! GET /api/v4/product_details (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::handlers::product_details_handler).await
}
