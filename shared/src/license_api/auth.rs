//! License API credentials and request authentication (LICENSE-API.md §0, §1.2).
//!
//! A request carries `Date` (IMF-fixdate) and
//! `Authorization: algorithm="hmac-sha256",headers="date",signature="<SIG>",apiKey="<key>"`,
//! where SIG is `base64(HMAC-SHA256(shared_key, "licenseSpring\ndate: " + Date))`. The server
//! looks up the key's sealed shared key, opens it, recomputes SIG and compares in constant
//! time; a `Date` more than 5 minutes off its clock is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use time::OffsetDateTime;

use super::keys::Keys;
use super::LicenseApiError;
use crate::ids::Id;
use crate::store::{LicenseApiKeyRecord, Store, StoreError};

/// How far a request's `Date` may be from the server's clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(5);
/// How long a container keeps credentials it looked up (a revoked key stops within this).
const CACHED_FOR: Duration = Duration::from_secs(300);

/// The company a License API request acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub company: Id,
}

/// New credentials for `company`: the `api_key` and `shared_key` to give the vendor (printed
/// once by `provision license-api-key`); the shared key is stored sealed.
pub async fn mint(store: &Store, keys: &Keys, company: Id) -> Result<(String, String), StoreError> {
    let api_key = random_token(16);
    let shared_key = random_token(32);
    let record = LicenseApiKeyRecord {
        api_key: api_key.clone(),
        company,
        shared_key_sealed: keys.seal(&shared_key),
        revoked: false,
    };
    store.put_license_api_key(&record).await?;
    Ok((api_key, shared_key))
}

/// `bytes` random bytes as lowercase hex.
fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut raw).expect("the system random generator");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Credentials as this container keeps them: the caller, the opened shared key, and when.
type Cached = (Caller, String, Instant);

/// Credentials this container has looked up, by api key.
static CACHE: Mutex<Option<HashMap<String, Cached>>> = Mutex::new(None);

/// The caller of a request with these headers, at `now` (401 for missing or malformed
/// headers; 403 for an unknown key, a wrong signature or a stale `Date`).
pub async fn authenticate(
    store: &Store,
    keys: &Keys,
    authorization: Option<&str>,
    date: Option<&str>,
    now: OffsetDateTime,
) -> Result<Caller, LicenseApiError> {
    let (Some(authorization), Some(date)) = (authorization, date) else {
        return Err(LicenseApiError::unauthorized(
            "authorization_missing_params",
            "The Date and Authorization headers are required.",
        ));
    };
    let params = parse_params(authorization);
    let (Some(api_key), Some(signature)) = (params.get("apiKey"), params.get("signature")) else {
        return Err(LicenseApiError::unauthorized(
            "authorization_invalid_headers",
            "Authorization needs apiKey and signature.",
        ));
    };
    if params.get("algorithm").is_some_and(|a| *a != "hmac-sha256") {
        return Err(LicenseApiError::unauthorized("authorization_invalid_headers", "Only hmac-sha256 is supported."));
    }
    let sent = parse_http_date(date)
        .ok_or_else(|| LicenseApiError::unauthorized("authorization_invalid_headers", "Date is not an HTTP date."))?;
    if (sent - now).abs() > MAX_SKEW {
        return Err(LicenseApiError::forbidden(
            "authorization_date_skew",
            "Date is more than 5 minutes off the server's clock.",
        ));
    }
    let (caller, shared_key) = credentials(store, keys, api_key).await?;
    let expected = BASE64.decode(signature).unwrap_or_default();
    let key = hmac::Key::new(hmac::HMAC_SHA256, shared_key.as_bytes());
    hmac::verify(&key, signing_string(date).as_bytes(), &expected)
        .map_err(|_| LicenseApiError::forbidden("invalid_signature", "The request signature does not match."))?;
    Ok(caller)
}

/// What the SDK signs (`api/authorization.py:29`).
pub fn signing_string(date: &str) -> String {
    format!("licenseSpring\ndate: {date}")
}

/// The `k="v"` pairs of an Authorization header.
fn parse_params(header: &str) -> HashMap<&str, &str> {
    header
        .split(',')
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim(), value.trim().strip_prefix('"')?.strip_suffix('"')?))
        })
        .collect()
}

/// An IMF-fixdate (`Mon, 30 Nov 2026 02:52:33 GMT`).
pub fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), format).ok().map(|t| t.assume_utc())
}

/// The caller and shared key of `api_key`: from this container's cache, else the table.
async fn credentials(store: &Store, keys: &Keys, api_key: &str) -> Result<(Caller, String), LicenseApiError> {
    if let Some(found) = cached(api_key) {
        return Ok(found);
    }
    let invalid = || LicenseApiError::forbidden("invalid_api_key", "Unknown or revoked License API key.");
    let record = store.get_license_api_key(api_key).await.map_err(LicenseApiError::from)?.ok_or_else(invalid)?;
    if record.revoked {
        return Err(invalid());
    }
    let shared_key = keys.open(&record.shared_key_sealed).ok_or_else(invalid)?;
    let caller = Caller { company: record.company };
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.get_or_insert_with(HashMap::new).insert(api_key.to_string(), (caller, shared_key.clone(), Instant::now()));
    Ok((caller, shared_key))
}

fn cached(api_key: &str) -> Option<(Caller, String)> {
    let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let (caller, shared_key, at) = cache.as_ref()?.get(api_key)?;
    (at.elapsed() < CACHED_FOR).then(|| (*caller, shared_key.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_as_the_sdk_writes_them() {
        let header = r#"algorithm="hmac-sha256",headers="date",signature="c2ln",apiKey="k1""#;
        let params = parse_params(header);
        assert_eq!(
            (params["algorithm"], params["headers"], params["signature"], params["apiKey"]),
            ("hmac-sha256", "date", "c2ln", "k1")
        );
        let at = parse_http_date("Mon, 30 Nov 2026 02:52:33 GMT").unwrap();
        assert_eq!(at, time::macros::datetime!(2026-11-30 02:52:33 UTC));
        assert_eq!(parse_http_date("2026-11-30T02:52:33Z"), None);
        assert_eq!(signing_string("X"), "licenseSpring\ndate: X");
    }
}
