//! POST /api/v4/change_password (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::handlers::change_password_handler).await
}
