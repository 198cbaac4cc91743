//! `GET /api/v1/products/{id}/bundle/` and `/in_bundle/`: a bundle's members, a product's bundles (API.md §8.5).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::catalog::products::bundle_handler).await
}
