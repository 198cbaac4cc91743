//! Every other path under `/api/v1/`: the contract's 404 instead of API Gateway's own.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::http::not_found).await
}
