//! HTTP glue: JSON bodies and responses, path matching that tolerates a missing trailing slash,
//! query strings, and absolute URLs for pagination links.

use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The handler of paths no endpoint serves.
pub async fn not_found(_: &crate::App, req: Request) -> Response<Body> {
    if req.uri().path().contains("/api/v4/") {
        // The License API's error shape (LICENSE-API.md §3): the SDK reads `code`.
        let body = serde_json::json!({"status": 404, "code": "not_found", "message": "No such License API endpoint."});
        return json_response(StatusCode::NOT_FOUND, &body);
    }
    crate::app::respond(&req, async { Err(ApiError::NotFound) }).await
}

/// Lambda's synchronous payload limit; API Gateway refuses larger bodies before we see them.
pub const MAX_JSON_BODY: usize = 6 * 1024 * 1024;

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// Bodies smaller than this are sent as they are (compressing them saves nothing).
const GZIP_FROM_BYTES: usize = 1_024;

/// `response` with its body gzip-encoded when the request's `Accept-Encoding` allows gzip
/// (any `q` but 0) and the body is worth it. API Gateway passes the binary body on base64
/// encoded, as lambda_http marks it; a list page of 6 MB of JSON travels as a fraction of it.
pub fn encoded_for(req: &Request, response: Response<Body>) -> Response<Body> {
    let accepts_gzip = req.headers().get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused =
                parts.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>() == Ok(0.0)));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    });
    let text = match response.body() {
        Body::Text(text) if accepts_gzip && text.len() >= GZIP_FROM_BYTES => text.as_bytes(),
        _ => return response,
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(text.len() / 4), flate2::Compression::fast());
    if std::io::Write::write_all(&mut encoder, text).is_err() {
        return response;
    }
    let Ok(compressed) = encoder.finish() else { return response };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
    parts.headers.append(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Body::Binary(compressed))
}

pub fn ok(body: &Value) -> Response<Body> {
    json_response(StatusCode::OK, body)
}

pub fn created(body: &Value) -> Response<Body> {
    json_response(StatusCode::CREATED, body)
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The body as a JSON object. An empty body reads as `{}` whatever its Content-Type, since the
/// vendor's clients send `Content-Type: application/json` on requests without one.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge(format!("Request body exceeds {MAX_JSON_BODY} bytes.")));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "Invalid data. Expected a dictionary, but got {}.",
            json_type_name(&other)
        ))),
        Err(err) => Err(ApiError::BadRequest(format!("JSON parse error - {err}"))),
    }
}

/// The body as a JSON array (the bulk license calls, API.md §8.1).
pub fn json_array(req: &Request) -> Result<Vec<Value>, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge(format!("Request body exceeds {MAX_JSON_BODY} bytes.")));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => {
            Err(ApiError::BadRequest(format!("Invalid data. Expected a list, but got {}.", json_type_name(&other))))
        }
        Err(err) => Err(ApiError::BadRequest(format!("JSON parse error - {err}"))),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The percent-decoded path segments after `/api/v1/`, without the empty one a trailing slash
/// leaves. `None` when the path is not under `/api/v1/`. A stage or base-path prefix before
/// `/api/v1/` is ignored.
pub fn api_segments(path: &str) -> Option<Vec<String>> {
    const BASE: &str = "/api/v1/";
    let start = path.find(BASE)?;
    let rest = &path[start + BASE.len()..];
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('/')
        .map(|segment| {
            let decoded: Vec<u8> = percent_decode(segment.as_bytes());
            String::from_utf8(decoded).ok()
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            let hex = std::str::from_utf8(&input[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Query parameters in order, decoded.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// Whether the request asks for strict handling (`Prefer: handling=strict`, RFC 7240): unknown
/// query parameters are then a 400 rather than ignored (API.md §1).
pub fn prefers_strict_handling(req: &Request) -> bool {
    req.headers().get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|preference| {
            let preference = preference.split(';').next().unwrap_or_default();
            let (name, value) = preference.split_once('=').unwrap_or((preference, ""));
            name.trim().eq_ignore_ascii_case("handling")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("strict")
        })
    })
}

/// `scheme://host/path` of the request, for `next`/`previous` links. Behind API Gateway the
/// scheme comes from `X-Forwarded-Proto`; a loopback host without it is the local emulator.
pub fn absolute_path(req: &Request) -> String {
    let headers = req.headers();
    let host = header_text(headers, "x-forwarded-host")
        .or_else(|| header_text(headers, header::HOST.as_str()))
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    let scheme = header_text(headers, "x-forwarded-proto").unwrap_or_else(|| {
        let loopback = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        if loopback { "http" } else { "https" }.to_string()
    });
    format!("{scheme}://{host}{}", req.uri().path())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.to_string()));
        *req.uri_mut() = uri.parse().unwrap();
        req
    }

    #[test]
    fn segments_with_and_without_trailing_slash() {
        assert_eq!(api_segments("/api/v1/products/"), Some(vec!["products".to_string()]));
        assert_eq!(api_segments("/api/v1/products"), Some(vec!["products".to_string()]));
        assert_eq!(
            api_segments("/prod/api/v1/licenses/12/update_features"),
            Some(vec!["licenses".into(), "12".into(), "update_features".into()])
        );
        assert_eq!(api_segments("/api/v1/customers/a%2Fb/"), Some(vec!["customers".into(), "a/b".into()]));
        assert_eq!(api_segments("/api/v1/x/%zz%2"), Some(vec!["x".into(), "%zz%2".into()]));
        assert_eq!(api_segments("/other/"), None);
    }

    #[test]
    fn empty_body_is_an_empty_object_and_bad_json_a_400() {
        assert_eq!(json_object(&request("/", "")).unwrap(), Map::new());
        let err = json_object(&request("/", "{\"a\":")).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.body()["detail"].as_str().unwrap().starts_with("JSON parse error"));
        let err = json_object(&request("/", "[1]")).unwrap_err();
        assert_eq!(err.body()["detail"], "Invalid data. Expected a dictionary, but got list.");
    }

    #[test]
    fn absolute_path_uses_forwarded_headers() {
        let mut req = request("/api/v1/products/?limit=1", "");
        req.headers_mut().insert("host", "api.example.com".parse().unwrap());
        assert_eq!(absolute_path(&req), "https://api.example.com/api/v1/products/");
        req.headers_mut().insert("host", "127.0.0.1:9000".parse().unwrap());
        assert_eq!(absolute_path(&req), "http://127.0.0.1:9000/api/v1/products/");
        assert_eq!(query_pairs(&req), vec![("limit".to_string(), "1".to_string())]);
    }
}
