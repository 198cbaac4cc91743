//! GET /api/v1/license-activation-histories/, /{id}/ and /transfer_count/ (issue 15).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::activations::activation_histories_handler).await
}
