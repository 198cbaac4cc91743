//! `PATCH /api/v1/orders/{id}/` (API.md §8.5).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::orders::update::update_order_handler).await
}
