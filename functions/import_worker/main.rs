//! The import worker: SQS messages (S3 events of uploaded files, follow-ups) → licenses.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve_events(shared::imports::worker::handle_invocation).await
}
