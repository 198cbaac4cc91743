//! License API requests as the vendor's SDK signs them (LICENSE-API.md §1.2), and the check of
//! a response's `LicenseSignature` (§2.1): for the integration tests and the benchmarks.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use time::OffsetDateTime;

/// A company's License API credentials and the deployment's public key (DER).
pub struct Credentials {
    pub api_key: String,
    pub shared_key: String,
    pub public_der: Vec<u8>,
}

impl Credentials {
    /// New credentials for `company` (`provision license-api-key`) under `app`'s secret, and the
    /// public key.
    pub async fn mint(app: &shared::App, company: shared::ids::Id) -> Credentials {
        let sdk = aws_config::load_from_env().await;
        let secret = app.config.license_api_secret.clone().expect("the app's License API secret");
        let store = &app.store;
        // Boxed: SDK futures are deep, and test threads have small stacks.
        let (api_key, shared_key) =
            Box::pin(provision::create_license_api_key(&sdk, store, &secret, company)).await.expect("credentials");
        let pem = Box::pin(provision::license_api_public_key(&sdk, &secret)).await.expect("the public key");
        let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Credentials { api_key, shared_key, public_der: BASE64.decode(base64).expect("PEM") }
    }

    /// `endpoint` as the SDK sends it (a GET's parameters in the query, a POST's as JSON), with
    /// `Date` = `date` and its HMAC under `shared_key`.
    pub fn request(
        &self,
        method: Method,
        endpoint: &str,
        params: &Value,
        date: OffsetDateTime,
        shared_key: &str,
    ) -> Request {
        let date = date
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .expect("an HTTP date");
        let key = hmac::Key::new(hmac::HMAC_SHA256, shared_key.as_bytes());
        let signature = BASE64.encode(hmac::sign(&key, format!("licenseSpring\ndate: {date}").as_bytes()));
        let authorization =
            format!(r#"algorithm="hmac-sha256",headers="date",signature="{signature}",apiKey="{}""#, self.api_key);
        let (uri, body) = match method {
            Method::GET => {
                let pairs = params.as_object().into_iter().flatten();
                let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.map(|(k, v)| (k.clone(), text(v))))
                    .finish();
                (format!("/api/v4/{endpoint}?{query}"), Body::Empty)
            }
            _ => (format!("/api/v4/{endpoint}"), Body::Text(params.to_string())),
        };
        lambda_http::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "testserver")
            .header("content-type", "application/json")
            .header("date", date)
            .header("authorization", authorization)
            .body(body)
            .expect("a request")
    }

    /// Whether `response` carries a `LicenseSignature` that this deployment's key made over
    /// its body.
    pub fn signed(&self, response: &Response<Body>) -> bool {
        let Some(signature) = response.headers().get("LicenseSignature").and_then(|v| BASE64.decode(v.as_bytes()).ok())
        else {
            return false;
        };
        let body: &[u8] = response.body().as_ref();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_der).verify(body, &signature).is_ok()
    }
}
