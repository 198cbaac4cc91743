//! POST /api/v4/track_device_variables (LICENSE-API.md §4.1).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::usage::track_device_variables_handler).await
}
