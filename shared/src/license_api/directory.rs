//! What an application may look up about users and customers (LICENSE-API.md §4.1):
//! `user_licenses` (a user's licenses of a product, with the user's password) and
//! `customer_license_users` (the license users of a customer's licenses of a product).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::handlers::{company_user, context, license_object, product_of, required, visible};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::catalog::Customer;
use crate::licenses::License;
use crate::store::keys;

/// `GET /api/v4/user_licenses` with `product`, `username` and `password`: the License object
/// of each of the user's licenses of the product, oldest first.
pub async fn user_licenses_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let (email, password) = (required(&params, "username")?, required(&params, "password")?);
        let user = company_user(store, &email, Some(&password)).await?;
        let candidates = store.user_licenses(user.id).await.map_err(LicenseApiError::from)?;
        let mut licenses = store.get_many::<License>(&candidates).await.map_err(LicenseApiError::from)?;
        licenses.retain(|l| l.product == product.id && l.users.iter().any(|u| u.id == user.id));
        licenses.sort_by_key(|l| l.id);
        let mut objects = Vec::with_capacity(licenses.len());
        for license in &licenses {
            if visible(store, license).await? {
                objects.push(license_object(store, license, Some(&user), product, &catalog, None, now));
            }
        }
        Ok(Value::Array(objects))
    })
    .await
}

/// `GET /api/v4/customer_license_users` with `product` and `customer` (an email): the license
/// users of the customer's licenses of the product, each once, as
/// `[{"id", "email", "first_name", "last_name", "phone_number", "is_manager"}]`.
pub async fn customer_license_users_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, _) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let email = required(&params, "customer")?;
        let claim = Customer::email_key(&email);
        let customer = store
            .unique_owner(claim.kind, &claim.scope, &claim.value)
            .await
            .map_err(LicenseApiError::from)?
            .ok_or_else(|| LicenseApiError::rule("customer_not_found", "No customer of that email."))?;
        let licenses: Vec<License> = store
            .query_index(keys::LICENSES_BY_CUSTOMER, keys::licenses_by_customer(store.company(), customer))
            .await
            .map_err(LicenseApiError::from)?;
        let mut users: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for license in licenses.iter().filter(|l| l.product == product.id) {
            if !visible(store, license).await? {
                continue;
            }
            for user in license.users.iter().filter(|u| seen.insert(u.id)) {
                users.push(json!({
                    "id": user.id,
                    "email": user.email,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "phone_number": user.phone_number,
                    "is_manager": user.is_manager,
                }));
            }
        }
        Ok(Value::Array(users))
    })
    .await
}
