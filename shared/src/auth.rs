//! API-key authentication (API.md §1): `Authorization: Api-Key <prefix>.<secret>`. Keys are
//! looked up by prefix and checked against the stored SHA-256 of the secret in constant time.
//! A warm container remembers lookups for a short while, so a revoked key stops working within
//! `CACHE_TTL`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};

use crate::error::ApiError;
use crate::ids::Id;
use crate::passwords::{constant_time_eq, sha256_hex};
use crate::store::{ApiKeyRecord, Store};

pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Unknown prefixes are remembered more briefly, so a freshly created key works at once
/// in containers that saw a guess of it.
const MISS_TTL: Duration = Duration::from_secs(5);
const CACHE_CAPACITY: usize = 1_024;
const PREFIX_LEN: usize = 8;
/// 40 alphanumeric characters: about 238 bits of entropy.
const SECRET_LEN: usize = 40;

/// Who is calling: a company's manager, admin of all its products or of a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub company: Id,
    /// `None` for an admin.
    pub products: Option<HashSet<Id>>,
    /// The prefix of the key that authenticated (a history entry's `manager`), or what
    /// acted for a manager (`import` for the import worker).
    pub key_prefix: String,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.products.is_none()
    }

    pub fn can_access(&self, product: Id) -> bool {
        self.products.as_ref().is_none_or(|set| set.contains(&product))
    }
}

/// A newly minted key: give `full` to the user once, store `record`.
pub struct NewApiKey {
    pub full: String,
    pub record: ApiKeyRecord,
}

pub fn new_api_key(company: Id, products: Option<Vec<Id>>) -> NewApiKey {
    let mut rng = rand::rng();
    let prefix = Alphanumeric.sample_string(&mut rng, PREFIX_LEN);
    let secret = Alphanumeric.sample_string(&mut rng, SECRET_LEN);
    NewApiKey {
        full: format!("{prefix}.{secret}"),
        record: ApiKeyRecord { prefix, company, secret_sha256: sha256_hex(&secret), products, revoked: false },
    }
}

/// `(prefix, secret)` from an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Api-Key") {
        return None;
    }
    let (prefix, secret) = credentials.trim().split_once('.')?;
    let well_formed =
        |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (well_formed(prefix, 64) && well_formed(secret, 256)).then_some((prefix, secret))
}

#[derive(Default)]
pub struct Authenticator {
    cache: Mutex<HashMap<String, (Option<ApiKeyRecord>, Instant)>>,
}

impl Authenticator {
    pub async fn authenticate(&self, store: &Store, header: Option<&str>) -> Result<Principal, ApiError> {
        let (prefix, secret) = header.and_then(parse_authorization).ok_or(ApiError::NotAuthenticated)?;
        let record = match self.cached(prefix) {
            Some(record) => record,
            None => {
                let record = store.get_api_key(prefix).await?;
                self.remember(prefix, record.clone());
                record
            }
        };
        let record = record.ok_or(ApiError::InvalidApiKey)?;
        if record.revoked || !constant_time_eq(sha256_hex(secret).as_bytes(), record.secret_sha256.as_bytes()) {
            return Err(ApiError::InvalidApiKey);
        }
        Ok(Principal {
            company: record.company,
            products: record.products.map(|p| p.into_iter().collect()),
            key_prefix: record.prefix,
        })
    }

    fn cached(&self, prefix: &str) -> Option<Option<ApiKeyRecord>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (record, at) = cache.get(prefix)?;
        let ttl = if record.is_some() { CACHE_TTL } else { MISS_TTL };
        (at.elapsed() < ttl).then(|| record.clone())
    }

    fn remember(&self, prefix: &str, record: Option<ApiKeyRecord>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(prefix.to_string(), (record, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_vendor_header() {
        assert_eq!(parse_authorization("Api-Key abc123.s3cr3t"), Some(("abc123", "s3cr3t")));
        assert_eq!(parse_authorization("api-key  abc.def "), Some(("abc", "def")));
        for bad in [
            "",
            "Api-Key",
            "Api-Key abc",
            "Bearer abc.def",
            "Api-Key .def",
            "Api-Key abc.",
            "Api-Key a-b.c",
            "Api-Key a.b.c",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn new_keys_verify_and_are_stored_only_hashed() {
        let key = new_api_key(7, None);
        let header = format!("Api-Key {}", key.full);
        let (prefix, secret) = parse_authorization(&header).unwrap();
        assert_eq!(prefix, key.record.prefix);
        assert_ne!(key.record.secret_sha256, secret);
        assert_eq!(key.record.secret_sha256, sha256_hex(secret));
        assert_eq!(secret.len(), SECRET_LEN);
        assert_ne!(new_api_key(7, None).full, key.full);
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn scoping() {
        let admin = Principal { company: 1, products: None, key_prefix: "a".into() };
        let scoped = Principal { company: 1, products: Some([5].into_iter().collect()), key_prefix: "s".into() };
        assert!(admin.is_admin() && admin.can_access(99));
        assert!(!scoped.is_admin() && scoped.can_access(5) && !scoped.can_access(6));
    }
}
