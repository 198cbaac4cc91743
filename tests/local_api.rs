//! The whole API over plain HTTP in one process (`integration_tests::front`), against the AWS
//! endpoints of the environment (moto). make test fuzzes it (scripts/fuzz.sh, API=local);
//! unlike `cargo lambda watch`, it hands a body that is not UTF-8 to the handlers as binary, as
//! API Gateway does. Not for deployment.
//!
//! usage: local_api PORT  (TABLE_NAME, IMPORT_BUCKET, IMPORT_QUEUE_NAME, AWS_* from the environment)

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).ok_or("usage: local_api PORT")?;
    let app: &'static shared::App = Box::leak(Box::new(integration_tests::app().await));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("local_api: http://127.0.0.1:{port}/api/v1/");
    integration_tests::front::serve(app, listener).await?;
    Ok(())
}
