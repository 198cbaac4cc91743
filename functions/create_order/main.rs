//! `POST /api/v1/orders/create_order/`: create an order and its licenses (seed 004).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::orders::handlers::create_order_handler).await
}
