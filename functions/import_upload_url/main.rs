//! `POST /api/v1/licenses/import_from_csv/upload_url/`: a presigned upload for a large CSV file.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::imports::handlers::upload_url_handler).await
}
