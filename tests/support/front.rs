//! The whole API over plain HTTP in one process, as API Gateway would front it: each request
//! goes to the handler of its route, a body that is not UTF-8 handed over as binary (as API
//! Gateway does). `local_api` serves it for make test's fuzz run; the compatibility tests send
//! real clients' requests through it. Not for deployment.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dispatch;

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve(app: &'static shared::App, listener: tokio::net::TcpListener) -> std::io::Result<()> {
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

/// Starts the front on a free port of this machine; its `http://127.0.0.1:<port>`.
pub async fn start(app: &'static shared::App) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("a free port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(serve(app, listener));
    format!("http://{address}")
}

/// One HTTP/1.1 request, written as a client library would (`Connection: close`): the status
/// and the JSON body (`Value::Null` when empty).
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to the front");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("receive");
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value = if body.trim().is_empty() { Value::Null } else { serde_json::from_str(body).expect("a JSON body") };
    (status, value)
}
