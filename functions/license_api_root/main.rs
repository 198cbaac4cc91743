//! GET / (the SDK's is_online()).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::license_api::handlers::root_handler).await
}
