//! What an application may look up about users and customers (LICENSE-API.md §4.1):
//! `user_licenses` (a user's licenses of a product, with the user's password) and
//! `customer_license_users` (the license users of a customer's licenses of a product).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::objects::license_object;
use super::request::{company_user, context, product_of, required, visible};
use super::{respond, LicenseApiError};
use crate::app::App;
use crate::catalog::Customer;
use crate::ids::Id;
use crate::licenses::License;
use crate::store::{keys, IndexPager};

/// Most License objects `user_licenses` answers, and most users `customer_license_users`
/// answers; and either answer's most bytes, under Lambda's 6 MB response (a License object
/// carries the license's metadata, up to tens of KB).
pub const MAX_USER_LICENSES: usize = 500;
pub const MAX_CUSTOMER_LICENSE_USERS: usize = 10_000;
pub const MAX_ANSWER_BYTES: usize = 5_000_000;

fn too_many(what: &str, limit: usize) -> LicenseApiError {
    LicenseApiError::rule("too_many_results", format!("More than {limit} {what}: the answer would be too large."))
}

/// Adds `value` to an answer of `bytes` so far, within [`MAX_ANSWER_BYTES`].
fn within_bytes(bytes: &mut usize, value: &Value) -> Result<(), LicenseApiError> {
    *bytes += crate::listing::json_len(value) + 1;
    match *bytes > MAX_ANSWER_BYTES {
        true => Err(LicenseApiError::rule(
            "too_many_results",
            format!("The answer would pass {MAX_ANSWER_BYTES} bytes (Lambda answers at most 6 MB)."),
        )),
        false => Ok(()),
    }
}

/// `GET /api/v4/user_licenses` with `product`, `username` and `password`: the License object
/// of each of the user's licenses of the product, oldest first (at most
/// [`MAX_USER_LICENSES`], else `too_many_results`). The licenses are read 100 at a time.
pub async fn user_licenses_handler(app: &App, req: Request) -> Response<Body> {
    respond(app, &req, async {
        let (store, catalog, params, now) = context(app, &req, Method::GET).await?;
        let product = product_of(&catalog, &params)?;
        let (email, password) = (required(&params, "username")?, required(&params, "password")?);
        let user = company_user(store, &email, Some(&password)).await?;
        let mut candidates: Vec<Id> = store.user_licenses(user.id).await.map_err(LicenseApiError::from)?;
        candidates.sort_unstable();
        let (mut objects, mut bytes) = (Vec::new(), 0);
        for chunk in candidates.chunks(100) {
            let mut licenses = store.get_many::<License>(chunk).await.map_err(LicenseApiError::from)?;
            licenses.retain(|l| l.product == product.id && l.users.iter().any(|u| u.id == user.id));
            licenses.sort_by_key(|l| l.id);
            for license in &licenses {
                if visible(store, license).await? {
                    if objects.len() == MAX_USER_LICENSES {
                        return Err(too_many("licenses", MAX_USER_LICENSES));
                    }
                    let object = license_object(store, license, Some(&user), product, &catalog, None, now);
                    within_bytes(&mut bytes, &object)?;
                    objects.push(object);
                }
            }
        }
        Ok(Value::Array(objects))
    })
    .await
}

/// `GET /api/v4/customer_license_users` with `product` and `customer` (an email): the license
/// users of the customer's licenses of the product, each once, as
/// `[{"id", "email", "first_name", "last_name", "phone_number", "is_manager"}]` (at most
/// [`MAX_CUSTOMER_LICENSE_USERS`], else `too_many_results`). The customer's licenses are read a
/// Query page at a time, so memory holds one page.
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
        let partition = keys::licenses_by_customer(store.company(), customer);
        let mut pager = IndexPager::<License>::new(keys::LICENSES_BY_CUSTOMER, partition, true);
        let (mut users, mut bytes): (Vec<Value>, usize) = (Vec::new(), 0);
        let mut seen = std::collections::HashSet::new();
        while let Some(page) = pager.next_page(store, 100).await.map_err(LicenseApiError::from)? {
            for license in page.iter().filter(|l| l.product == product.id) {
                if !visible(store, license).await? {
                    continue;
                }
                for user in license.users.iter().filter(|u| seen.insert(u.id)) {
                    if users.len() == MAX_CUSTOMER_LICENSE_USERS {
                        return Err(too_many("license users", MAX_CUSTOMER_LICENSE_USERS));
                    }
                    let shown = json!({
                        "id": user.id,
                        "email": user.email,
                        "first_name": user.first_name,
                        "last_name": user.last_name,
                        "phone_number": user.phone_number,
                        "is_manager": user.is_manager,
                    });
                    within_bytes(&mut bytes, &shown)?;
                    users.push(shown);
                }
            }
        }
        Ok(Value::Array(users))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_stays_under_lambdas_response_limit() {
        let mut bytes = 0;
        let big = Value::String("x".repeat(2_000_000));
        assert!(within_bytes(&mut bytes, &big).is_ok());
        assert!(within_bytes(&mut bytes, &big).is_ok());
        assert_eq!(within_bytes(&mut bytes, &big).unwrap_err().code, "too_many_results");
    }
}
