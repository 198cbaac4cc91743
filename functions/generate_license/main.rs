//! `GET /api/v1/orders/generate_license/`: fresh, unused license keys.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::orders::handlers::generate_license_handler).await
}
