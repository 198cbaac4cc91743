//! `GET /api/v1/orders/`: orders with their items and licenses.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::orders::handlers::list_orders_handler).await
}
