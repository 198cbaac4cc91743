//! `GET /api/v1/licenses/{id}/`: one license (seed 002).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::handlers::get_license_handler).await
}
