//! What a License API request names (LICENSE-API.md §1, §1.5): its caller (credentials
//! checked), its parameters (a GET's query, a POST's JSON body), its product, and the license it
//! means: by key, or by the license user's email (and password) for a user-based license.

use lambda_http::http::Method;
use lambda_http::Request;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::auth::{authenticate, Caller};
use super::keys::load;
use super::LicenseApiError;
use crate::app::App;
use crate::catalog::{Catalog, Product};
use crate::ids::Id;
use crate::licenses::users::CompanyUser;
use crate::licenses::License;
use crate::orders::Order;
use crate::store::{keys, TenantStore};

/// The caller's store, its catalog, the parameters and the time.
pub(super) async fn context<'a>(
    app: &'a App,
    req: &Request,
    method: Method,
) -> Result<(TenantStore<'a>, Catalog, Map<String, Value>, OffsetDateTime), LicenseApiError> {
    let (caller, params) = accepted(app, req, method).await?;
    let store = app.store.tenant(caller.company);
    let catalog = Catalog::load(store).await.map_err(LicenseApiError::from)?;
    Ok((store, catalog, params, crate::timefmt::now()))
}

/// The request's caller and parameters (a GET's query, a POST's JSON body), once its method,
/// credentials and body are checked.
pub(super) async fn accepted(
    app: &App,
    req: &Request,
    method: Method,
) -> Result<(Caller, Map<String, Value>), LicenseApiError> {
    if req.method() != method {
        return Err(LicenseApiError { status: 405, code: "method_not_allowed", message: format!("Use {method}.") });
    }
    let keys = load(&app.secrets, app.config.license_api_secret.as_deref()).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let caller = authenticate(&app.store, keys, header("authorization"), header("date"), crate::timefmt::now()).await?;
    let params = match method {
        Method::GET => crate::http::query_pairs(req).into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        _ => crate::http::json_object(req)
            .map_err(|_| LicenseApiError::rule("validation_error", "The body must be a JSON object."))?,
    };
    Ok((caller, params))
}

/// A parameter as text (GET parameters are all strings; JSON numbers and booleans as written).
pub(super) fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn required(params: &Map<String, Value>, name: &str) -> Result<String, LicenseApiError> {
    text(params, name).ok_or_else(|| LicenseApiError::rule("missing_parameters", format!("{name} is required.")))
}

pub(super) fn flag(params: &Map<String, Value>, name: &str) -> bool {
    matches!(params.get(name), Some(Value::Bool(true))) || text(params, name).as_deref() == Some("true")
}

/// The product `product` names (its short code).
pub(super) fn product_of<'c>(
    catalog: &'c Catalog,
    params: &Map<String, Value>,
) -> Result<&'c Product, LicenseApiError> {
    let code = required(params, "product")?;
    catalog.product_by_code(&code).ok_or_else(|| LicenseApiError::rule("product_not_found", "Unknown product."))
}

/// The license a request names within `product` (its order committed it): by `license_key`,
/// or for a user-based license by `username` (the user's email) with `password` when given
/// (`unknown_user_or_password`) and `license_id` when given, else the user's oldest license of
/// the product. The license, and the user of a user-based request.
pub(super) async fn license_of(
    store: TenantStore<'_>,
    product: &Product,
    params: &Map<String, Value>,
) -> Result<(License, Option<CompanyUser>), LicenseApiError> {
    if let Some(key) = text(params, "license_key") {
        let candidates: Vec<License> = store
            .query_index(keys::LICENSES_BY_KEY, keys::licenses_by_key(store.company(), &key))
            .await
            .map_err(LicenseApiError::from)?;
        let license = candidates.into_iter().find(|l| l.product == product.id).ok_or_else(license_not_found)?;
        return match visible(store, &license).await? {
            true => Ok((license, None)),
            false => Err(license_not_found()),
        };
    }
    let Some(email) = text(params, "username") else {
        return Err(LicenseApiError::rule(
            "missing_parameters",
            "license_key, or username for a user-based license, is required.",
        ));
    };
    let user = company_user(store, &email, text(params, "password").as_deref()).await?;
    let candidates = match text(params, "license_id").and_then(|id| id.parse::<Id>().ok()) {
        Some(id) => vec![id],
        None => store.user_licenses(user.id).await.map_err(LicenseApiError::from)?,
    };
    let mut licenses: Vec<License> = store.get_many::<License>(&candidates).await.map_err(LicenseApiError::from)?;
    licenses.retain(|l| l.product == product.id && l.users.iter().any(|u| u.id == user.id));
    licenses.sort_by_key(|l| l.id);
    for license in licenses {
        if visible(store, &license).await? {
            return Ok((license, Some(user)));
        }
    }
    Err(license_not_found())
}

/// No license of the product by what the request names (`license_not_found`).
pub(super) fn license_not_found() -> LicenseApiError {
    LicenseApiError::rule("license_not_found", "No such license for this product.")
}

/// The license for round `round` of a write retried after a lost race: round 0 keeps the
/// license as first read (found through an index, which is eventually consistent); a later
/// round waits its backoff and reads the item itself, strongly consistent, so that a retry
/// never decides on the same stale copy again.
pub(super) async fn again(store: TenantStore<'_>, round: u32, license: License) -> Result<License, LicenseApiError> {
    if round == 0 {
        return Ok(license);
    }
    crate::store::backoff(round).await;
    store.get::<License>(license.id).await?.ok_or_else(license_not_found)
}

/// `username` without `password`: an activation of a user-based license needs the user's
/// password (`missing_parameters`).
pub(super) fn password_given(params: &Map<String, Value>) -> Result<(), LicenseApiError> {
    match text(params, "username").is_some() && text(params, "password").is_none() {
        true => Err(LicenseApiError::rule("missing_parameters", "A user-based activation needs the password.")),
        false => Ok(()),
    }
}

/// The company's license user of `email`, with `password` if given
/// (`unknown_user_or_password` for an unknown user or a wrong password).
pub(super) async fn company_user(
    store: TenantStore<'_>,
    email: &str,
    password: Option<&str>,
) -> Result<CompanyUser, LicenseApiError> {
    let unknown = || LicenseApiError::rule("unknown_user_or_password", "Unknown user or wrong password.");
    let user =
        crate::licenses::users::by_email(store, email).await.map_err(LicenseApiError::from)?.ok_or_else(unknown)?;
    match password {
        Some(given) if !user.password_hash.as_deref().is_some_and(|stored| crate::passwords::verify(stored, given)) => {
            Err(unknown())
        }
        _ => Ok(user),
    }
}

/// Whether the license's order committed it (a staged order's licenses show at its commit).
pub(super) async fn visible(store: TenantStore<'_>, license: &License) -> Result<bool, LicenseApiError> {
    if license.attempt.is_none() {
        return Ok(true);
    }
    let order = store.get::<Order>(license.order).await.map_err(LicenseApiError::from)?;
    Ok(order.is_some_and(|o| o.shows(license)))
}
