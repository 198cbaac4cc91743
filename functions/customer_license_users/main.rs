//! GET /api/v4/customer_license_users (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::directory::customer_license_users_handler).await
}
