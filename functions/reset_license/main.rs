//! `POST /api/v1/licenses/{id}/reset/`: activations and consumption back to 0 (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::reset_handler).await
}
