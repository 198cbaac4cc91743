//! `GET /api/v1/orders/{id}/`: one order with its items and licenses.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::orders::handlers::get_order_handler).await
}
