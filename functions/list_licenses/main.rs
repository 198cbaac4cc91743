//! `GET /api/v1/licenses/`: licenses with every filter of API.md §7 (seed 001).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::handlers::list_licenses_handler).await
}
