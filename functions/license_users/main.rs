//! `/api/v1/license-users/`: list, retrieve, PATCH and `set_password/` (API.md §8.2).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::license_users::license_users_handler).await
}
