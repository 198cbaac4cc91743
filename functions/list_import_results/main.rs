//! `GET /api/v1/licenses-import-results/`: import jobs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::imports::handlers::list_import_results_handler).await
}
