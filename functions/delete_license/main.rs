//! `DELETE /api/v1/licenses/{id}/`: delete a license, freeing its key and moving every count (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::delete_license_handler).await
}
