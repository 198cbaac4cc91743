//! `POST /api/v1/devices/{id}/reset/` (issue 15): the device deactivated, its activation freed.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::devices::reset_device_handler).await
}
