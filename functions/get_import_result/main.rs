//! `GET /api/v1/licenses-import-results/{id}/`: one import job and its result.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::imports::handlers::get_import_result_handler).await
}
