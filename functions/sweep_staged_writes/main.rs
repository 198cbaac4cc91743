//! The sweeper (every 5 minutes): finishes staged order writes a crashed Lambda left behind.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve_events(shared::orders::staging::handle_scheduled).await
}
