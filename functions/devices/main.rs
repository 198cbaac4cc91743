//! `GET /api/v1/devices/` and `GET /api/v1/devices/{id}/` (issue 15): the devices License API activations created.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::devices::devices_handler).await
}
