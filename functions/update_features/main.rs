//! `POST /api/v1/licenses/{id}/update_features/`: replace a license's product features (seed 003).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::handlers::update_features_handler).await
}
