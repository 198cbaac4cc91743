//! `PATCH /api/v1/licenses/{id}/`: change a license's writable properties (API.md §8.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::lifecycle::patch_license_handler).await
}
