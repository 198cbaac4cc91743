//! `POST /api/v1/devices/{id}/blacklist/` (issue 15): the device deactivated and barred from the license.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::devices::blacklist_device_handler).await
}
