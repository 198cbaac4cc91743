//! `/api/v1/license-custom-fields/`: a license's custom field values (API.md §8.3).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::custom_field_values::license_custom_fields_handler).await
}
