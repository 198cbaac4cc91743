//! The License API's secret material (LICENSE-API.md §0, §2): one secret per deployment in AWS
//! Secrets Manager, `{"signing_key": <PKCS#8 DER, base64>, "credentials_key": <32 bytes,
//! base64>}`, loaded once per container and never written to the table or a log.
//!
//! - `signing_key`: RSA (2,048 bits), signing every response body with RSASSA-PKCS1-v1_5 and
//!   SHA-256 into the `LicenseSignature` header, as the SDK's `verify_license_signature_v2`
//!   checks it.
//! - `credentials_key`: AES-256-GCM, sealing each company's HMAC shared key in the table (the
//!   server must recover it to check a request's HMAC, so it cannot be a one-way hash).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

/// The secret as stored.
#[derive(Serialize, Deserialize)]
struct SecretValue {
    signing_key: String,
    credentials_key: String,
}

/// The keys, ready to use.
pub struct Keys {
    signer: RsaKeyPair,
    sealer: LessSafeKey,
    /// The public key as SubjectPublicKeyInfo PEM (what the SDK's verifier subclass holds).
    pub public_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("the License API secret is not configured (LICENSE_API_SECRET)")]
    NotConfigured,
    #[error("secrets manager: {0}")]
    Aws(String),
    #[error("the License API secret is malformed: {0}")]
    Malformed(&'static str),
}

/// This container's keys, with the secret they were read from: read on first use.
static LOADED: OnceCell<(String, Keys)> = OnceCell::const_new();

/// The keys of the secret `secret_id`, read once per container (a process serves one
/// deployment: asking for another secret afterwards is an error, never the wrong keys).
pub async fn load(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: Option<&str>,
) -> Result<&'static Keys, KeysError> {
    let id = secret_id.ok_or(KeysError::NotConfigured)?;
    let (loaded_id, keys) = LOADED
        .get_or_try_init(|| async {
            let out = client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| KeysError::Aws(crate::store::error_text(&e)))?;
            let keys = Keys::from_secret(out.secret_string().ok_or(KeysError::Malformed("no secret string"))?)?;
            Ok::<_, KeysError>((id.to_string(), keys))
        })
        .await?;
    match loaded_id == id {
        true => Ok(keys),
        false => Err(KeysError::Malformed("this process already serves another License API secret")),
    }
}

impl Keys {
    /// A fresh secret's text: a new RSA key pair and credentials key (`provision stack`).
    pub fn new_secret() -> String {
        let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs8 = pair.as_der().expect("a generated key encodes");
        let mut credentials_key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut credentials_key).expect("the system random generator");
        serde_json::to_string(&SecretValue {
            signing_key: BASE64.encode(pkcs8.as_ref()),
            credentials_key: BASE64.encode(credentials_key),
        })
        .expect("a secret serialises")
    }

    /// The keys of a secret's text.
    pub fn from_secret(text: &str) -> Result<Keys, KeysError> {
        let value: SecretValue =
            serde_json::from_str(text).map_err(|_| KeysError::Malformed("not the expected JSON"))?;
        let pkcs8 = BASE64.decode(&value.signing_key).map_err(|_| KeysError::Malformed("signing_key"))?;
        let signer = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| KeysError::Malformed("signing_key"))?;
        let raw = BASE64.decode(&value.credentials_key).map_err(|_| KeysError::Malformed("credentials_key"))?;
        let sealer =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| KeysError::Malformed("credentials_key"))?);
        let spki = signer.public_key().as_der().map_err(|_| KeysError::Malformed("signing_key"))?;
        Ok(Keys { signer, sealer, public_pem: pem("PUBLIC KEY", spki.as_ref()) })
    }

    /// `base64(RSASSA-PKCS1-v1_5(SHA-256(body)))`: the `LicenseSignature` header (§2.1).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut signature = vec![0; self.signer.public_modulus_len()];
        self.signer
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), body, &mut signature)
            .expect("signing with a valid key and a buffer of the modulus' length");
        BASE64.encode(signature)
    }

    /// `secret` sealed for storage: base64 of a random nonce, the ciphertext and its tag.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random generator");
        let mut sealed = secret.as_bytes().to_vec();
        self.sealer
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
            .expect("AES-GCM seals any length a secret has");
        BASE64.encode([nonce.as_slice(), &sealed].concat())
    }

    /// The secret `sealed` holds, if this key sealed it.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = BASE64.decode(sealed).ok()?;
        let (nonce, rest) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let plain = self.sealer.open_in_place(nonce, Aad::empty(), &mut rest).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// DER as PEM with `label`, in 64-character lines.
fn pem(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn responses_verify_with_the_public_key_and_shared_keys_round_trip() {
        let keys = Keys::from_secret(&Keys::new_secret()).unwrap();
        let body = br#"{"id": 1}"#;
        let signature = BASE64.decode(keys.sign(body)).unwrap();
        let public = keys.signer.public_key().as_ref().to_vec();
        let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public);
        assert!(verifier.verify(body, &signature).is_ok());
        assert!(verifier.verify(br#"{"id": 2}"#, &signature).is_err(), "another body fails");
        assert!(keys.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\nMII"));

        let sealed = keys.seal("the shared key");
        assert!(!sealed.contains("shared"));
        assert_ne!(sealed, keys.seal("the shared key"), "a fresh nonce each time");
        assert_eq!(keys.open(&sealed).as_deref(), Some("the shared key"));
        let other = Keys::from_secret(&Keys::new_secret()).unwrap();
        assert_eq!(other.open(&sealed), None, "another deployment's key opens nothing");
        assert_eq!(keys.open("garbage"), None);
    }
}
