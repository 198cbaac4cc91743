//! `GET /api/v4/trial_key` (LICENSE-API.md §0, §4.1): a trial license of a product whose
//! `trial_days` is above 0, in an order of its own, with the product's default policy or the
//! `license_policy` code given; a customer for the `email` given.
//!
//! One trial per email and product (per device when no email is given): the trial's order id
//! is `trial-<product>-<email>`, and an order id is claimed once per company, so a second
//! request, even a concurrent one, finds it taken (`trial_already_used`).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

use super::request::{context, product_of, required, text};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::auth::Principal;
use crate::error::ApiError;

/// `GET /api/v4/trial_key`: `{"license": "<key>"}`, or for a user-based product
/// `{"license_user": "<email>", "initial_password": "<password>"}`.
pub async fn trial_key_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, _) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        if product.trial_days <= 0 {
            return Err(LicenseApiError::rule("trial_not_allowed", "The product offers no trial."));
        }
        let hardware_id = required(&params, "hardware_id")?;
        let email = text(&params, "email");
        let user_based = product.authorization_method == "user";
        if user_based && email.is_none() {
            return Err(LicenseApiError::rule("missing_parameters", "A user-based trial needs an email."));
        }
        let body =
            trial_order(&params, &product.short_code, product.trial_days, email.as_deref(), &hardware_id, user_based);
        // The License API acts for the company as a whole, as a manager of every product would.
        let principal = Principal { company: store.company(), products: None, key_prefix: "license-api".into() };
        let order =
            crate::orders::write::create_order(app, store, &principal, &body).await.map_err(|err| match err {
                ApiError::Conflict(_) => LicenseApiError::rule("trial_already_used", "A trial was already given."),
                ApiError::Validation(errors) => {
                    let message = errors
                        .entries()
                        .next()
                        .map(|(field, m)| format!("{field}: {}", m.join(" ")))
                        .unwrap_or_default();
                    LicenseApiError::rule("validation_error", message)
                }
                other => {
                    tracing::error!(error = %other, "trial order");
                    LicenseApiError { status: 500, code: "internal_error", message: "Internal server error.".into() }
                }
            })?;
        let license = &order["order_items"][0]["licenses"][0];
        Ok(match user_based {
            true => json!({
                "license_user": license["license_users"][0]["email"],
                "initial_password": license["license_users"][0]["initial_password"],
            }),
            false => json!({"license": license["license_key"]}),
        })
    })
    .await
}

/// The create_order body of a trial: a time-limited trial license for `trial_days` days, of
/// the policy given (else the product's default), for a customer of `email` if given.
fn trial_order(
    params: &Map<String, Value>,
    product: &str,
    trial_days: i64,
    email: Option<&str>,
    hardware_id: &str,
    user_based: bool,
) -> Map<String, Value> {
    let who = email.map_or_else(|| format!("device-{hardware_id}"), str::to_lowercase);
    let mut license = json!({"is_trial": true, "trial_days": trial_days, "license_type": "time-limited",
                             "valid_duration": format!("{trial_days}d")});
    if let Some(policy) = text(params, "license_policy") {
        license["policy_code"] = policy.into();
    }
    if let Some(email) = email.filter(|_| user_based) {
        license["users"] = json!([{"email": email}]);
    }
    let mut order = json!({"id": format!("trial-{product}-{who}"), "is_trial": true,
                           "items": [{"product_code": product, "licenses": [license]}]});
    if let Some(email) = email {
        let mut customer = json!({"email": email});
        for (field, name) in [
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("phone", "phone"),
            ("address", "address"),
            ("postcode", "postcode"),
            ("state", "state"),
            ("country", "country"),
            ("city", "city"),
            ("reference", "reference"),
        ] {
            if let Some(value) = text(params, field) {
                customer[name] = value.into();
            }
        }
        order["customer"] = customer;
    }
    order.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_order_is_one_time_limited_trial_license_named_by_email() {
        let params = json!({"license_policy": "pro", "first_name": "Ann"});
        let body = trial_order(params.as_object().unwrap(), "app", 14, Some("Ann@X.io"), "hw", true);
        assert_eq!(body["id"], "trial-app-ann@x.io");
        let license = &body["items"][0]["licenses"][0];
        assert_eq!((license["valid_duration"].clone(), license["policy_code"].clone()), (json!("14d"), json!("pro")));
        assert_eq!(body["customer"], json!({"email": "Ann@X.io", "first_name": "Ann"}));
        assert_eq!(license["users"], json!([{"email": "Ann@X.io"}]));
        let keyed = trial_order(&Map::new(), "app", 7, Some("b@x.io"), "hw", false);
        assert!(keyed["items"][0]["licenses"][0].get("users").is_none(), "a key-based trial has no users");
        let anonymous = trial_order(&Map::new(), "app", 7, None, "hw-1", false);
        assert_eq!(anonymous["id"], "trial-app-device-hw-1");
        assert!(anonymous.get("customer").is_none());
    }
}
