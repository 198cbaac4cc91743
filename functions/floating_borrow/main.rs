//! POST /api/v4/floating/borrow (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::floating::floating_borrow_handler).await
}
