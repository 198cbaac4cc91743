//! The whole API over plain HTTP in one process: each request goes to the handler API Gateway
//! would route it to (as the integration tests call them), against the AWS endpoints of the
//! environment (moto). make test fuzzes it (scripts/fuzz.sh, API=local); unlike `cargo lambda
//! watch`, it hands a body that is not UTF-8 to the handlers as binary, as API Gateway does.
//! Not for deployment.
//!
//! usage: local_api PORT  (TABLE_NAME, IMPORT_BUCKET, IMPORT_QUEUE_NAME, AWS_* from the environment)

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use integration_tests::dispatch;
use lambda_http::Body;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).ok_or("usage: local_api PORT")?;
    let app: &'static shared::App = Box::leak(Box::new(integration_tests::app().await));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("local_api: http://127.0.0.1:{port}/api/v1/");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
                let (parts, body) = req.into_parts();
                let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let body = match String::from_utf8(bytes.to_vec()) {
                    Ok(text) if text.is_empty() => Body::Empty,
                    Ok(text) => Body::Text(text),
                    Err(not_text) => Body::Binary(not_text.into_bytes()),
                };
                let response = dispatch(app, lambda_http::Request::from_parts(parts, body)).await;
                let (parts, body) = response.into_parts();
                let body: &[u8] = body.as_ref();
                Ok::<_, Infallible>(hyper::Response::from_parts(parts, Full::new(Bytes::copy_from_slice(body))))
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
