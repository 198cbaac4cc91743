//! `POST /api/v1/licenses/import_from_csv/`: upload a CSV file of licenses (seed 000).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::imports::handlers::import_from_csv_handler).await
}
