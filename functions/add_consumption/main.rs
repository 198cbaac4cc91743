//! POST /api/v4/add_consumption (LICENSE-API.md §4.1, §5.5).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::usage::add_consumption_handler).await
}
