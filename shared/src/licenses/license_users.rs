//! `/api/v1/license-users/` (API.md §8.2): the company's license users, listed, read, changed
//! and given a password.
//!
//! A license user is the company's (see `users`), so any manager of the company may list and
//! read them. Changing one (PATCH, `set_password/`) changes the person on every license, so it
//! is for a manager not scoped to products (else 403); a scoped manager reaches a user's values
//! on a license through the license's own routes.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::handlers::visible_license;
use super::history::{Action, Recorder};
use super::users::{self, render, render_entry, CompanyUser};
use super::{License, Related, RenderCtx};
use crate::app::{respond, route, App, Routed};
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::error::{ApiError, FieldErrors};
use crate::http::{ok, query_pairs};
use crate::ids::Id;
use crate::input::{Input, SHORT_TEXT};
use crate::listing::{page_body, page_from_index, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT};
use crate::store::{keys, later_than, IndexPager, TenantStore};

/// Shortest password `set_password/` takes (API.md §8.2).
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// The license a list is filtered by (`license=`): its values for each of its users.
type OnLicense = Option<License>;

fn entry<'l>(user: &CompanyUser, license: &'l OnLicense) -> Option<&'l super::LicenseUser> {
    license.as_ref().and_then(|l| l.users.iter().find(|e| e.id == user.id))
}

static FILTERS: &[FilterSpec<CompanyUser, OnLicense>] = &[
    FilterSpec { param: "true_email", lookup: Lookup::Exact, field: |u, _| (&u.email).into() },
    FilterSpec { param: "true_email__iexact", lookup: Lookup::IExact, field: |u, _| (&u.email).into() },
    FilterSpec { param: "true_email__icontains", lookup: Lookup::IContains, field: |u, _| (&u.email).into() },
    FilterSpec {
        param: "is_manager",
        lookup: Lookup::BoolExact,
        field: |u, l| entry(u, l).map_or(u.is_manager, |e| e.is_manager).into(),
    },
    // Answered by the access path: only the license's users are read.
    FilterSpec { param: "license", lookup: Lookup::IntExact, field: |_, l| l.as_ref().map(|l| l.id).into() },
];

static ORDERS: &[OrderSpec<CompanyUser, OnLicense>] = &[
    OrderSpec { name: "id", key: |u, _| u.id.into() },
    OrderSpec { name: "true_email", key: |u, _| (&u.email).into() },
    OrderSpec { name: "email", key: |u, _| (&u.email).into() },
    OrderSpec { name: "first_name", key: |u, _| (&u.first_name).into() },
    OrderSpec { name: "last_name", key: |u, _| (&u.last_name).into() },
    OrderSpec { name: "created_at", key: |u, _| u.created_at.into() },
];

/// `GET /api/v1/license-users/` (filters `true_email`, `true_email__iexact`,
/// `true_email__icontains`, `license`, `is_manager`), `GET`/`PATCH /license-users/{id}/`, and
/// `POST /license-users/{id}/set_password/` and `/license-users/set_password/?email=`.
///
/// Access paths: `license=` reads that license and its users (one BatchGetItem); an exact email
/// reads the email's claim; anything else pages the company's users in id order (GSI1), counted
/// by their counter when nothing filters.
pub async fn license_users_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let segments = crate::http::api_segments(req.uri().path()).unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (segments.as_slice(), req.method().clone()) {
            (["license-users"], _) => list(app, &req).await,
            (["license-users", "set_password"], _) => {
                let routed = route(app, &req, &["license-users", "set_password"], Method::POST).await?;
                let email = query_pairs(&req).into_iter().find(|(name, _)| name == "email").map(|(_, v)| v);
                let email = email
                    .filter(|e| !e.trim().is_empty())
                    .ok_or_else(|| ApiError::field("email", crate::input::REQUIRED))?;
                let store = app.store.tenant(routed.principal.company);
                let claim = CompanyUser::email_claim(email.trim());
                let id = store.unique_owner(claim.kind, &claim.scope, &claim.value).await?.ok_or(ApiError::NotFound)?;
                set_password(app, &req, &routed, id).await
            }
            ([_, _, "set_password"], _) => {
                let routed = route(app, &req, &["license-users", "{id}", "set_password"], Method::POST).await?;
                set_password(app, &req, &routed, routed.id.ok_or(ApiError::NotFound)?).await
            }
            ([_, _], Method::PATCH) => patch(app, &req).await,
            _ => {
                let routed = route(app, &req, &["license-users", "{id}"], Method::GET).await?;
                let store = app.store.tenant(routed.principal.company);
                let user = store.get::<CompanyUser>(routed.id.ok_or(ApiError::NotFound)?).await?;
                Ok(ok(&render(&user.ok_or(ApiError::NotFound)?)))
            }
        }
    })
    .await
}

async fn list(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let routed = route(app, req, &["license-users"], Method::GET).await?;
    let principal = &routed.principal;
    let store = app.store.tenant(principal.company);
    let pairs = query_pairs(req);
    let query = ListQuery::parse(&pairs, FILTERS, ORDERS, ListRules::of(req, MAX_LIMIT))?;
    let email = query.text_filter("true_email").or(query.text_filter("true_email__iexact"));
    let (count, page, license) = match (query.int_filter("license"), email) {
        (Some(license), _) => {
            // A license the manager cannot see has no users to show.
            let license = match visible_license(store, principal, license.max(0) as Id).await {
                Ok(license) => Some(license),
                Err(ApiError::NotFound) => None,
                Err(other) => return Err(other),
            };
            let ids: Vec<Id> = license.iter().flat_map(|l| l.users.iter().map(|u| u.id)).collect();
            let mut users = store.get_many::<CompanyUser>(&ids).await?;
            users.sort_by_key(|u| u.id);
            let (count, page) = query.apply(&users, &license);
            (count, page.into_iter().cloned().collect(), license)
        }
        (None, Some(email)) => {
            let users: Vec<CompanyUser> = users::by_email(store, email).await?.into_iter().collect();
            let (count, page) = query.apply(&users, &None);
            (count, page.into_iter().cloned().collect(), None)
        }
        (None, None) => {
            let forward = !query.index_order().unwrap_or(false);
            let mut pager = IndexPager::new(1, keys::license_users_gsi1pk(store.company()), forward);
            let count = match query.filters.is_empty() {
                true => Some(store.entity_count::<CompanyUser>().await?.max(0) as usize),
                false => None,
            };
            let (count, page) = page_from_index(store, &query, &None, count, &mut pager, |_| true).await?;
            (count, page, None)
        }
    };
    let results = page
        .iter()
        .map(|user| match entry(user, &license) {
            Some(on_license) => render_entry(on_license, Some(user)),
            None => render(user),
        })
        .collect();
    Ok(ok(&page_body(req, count, query.limit, query.offset, results)))
}

/// Only a manager of every product changes a company's users (see the module's note).
fn require_unscoped(principal: &Principal) -> Result<(), ApiError> {
    match principal.is_admin() {
        true => Ok(()),
        false => Err(ApiError::PermissionDenied(
            "A manager scoped to products cannot change a license user: it is shared by every license.".into(),
        )),
    }
}

/// `PATCH /api/v1/license-users/{id}/`: `first_name`, `last_name`, `phone_number`,
/// `is_manager`, `max_activations` on the company user. With `license` (in the body or the
/// query) `is_manager` and `max_activations` change on that license too, in the same
/// transaction with the license's history entry. Answers the user (on the license, if given).
async fn patch(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let routed = route(app, req, &["license-users", "{id}"], Method::PATCH).await?;
    let principal = &routed.principal;
    require_unscoped(principal)?;
    let store = app.store.tenant(principal.company);
    let body = crate::http::json_object(req)?;
    let user = store.get::<CompanyUser>(routed.id.ok_or(ApiError::NotFound)?).await?.ok_or(ApiError::NotFound)?;
    let (changed, on_license, license_id) = patched(&body, &user, &query_pairs(req))?;
    let mut changed = changed;
    changed.updated_at = later_than(user.updated_at);
    let license = match license_id {
        Some(id) => Some(visible_license(store, principal, id).await?),
        None => None,
    };
    let mut tx = store.transaction();
    tx.replace(&user, &changed)?;
    let mut after_license = None;
    if let Some(license) = &license {
        let Some(position) = license.users.iter().position(|e| e.id == user.id) else {
            return Err(ApiError::field("license", "This user is not a user of that license."));
        };
        let mut after = license.clone();
        let assigned = &mut after.users[position];
        assigned.is_manager = on_license.is_manager.unwrap_or(assigned.is_manager);
        assigned.max_activations = on_license.max_activations.unwrap_or(assigned.max_activations);
        after.updated_at = later_than(license.updated_at);
        let catalog = Catalog::load(store).await?;
        let diff = |l: &License| {
            l.render(&RenderCtx { company: store.company(), catalog: &catalog, related: &Related::default() })
        };
        tx.replace(license, &after)?;
        Recorder { principal, now: crate::timefmt::now() }.record(
            &mut tx,
            app.ids().await?.next_id(),
            (license.id, license.product),
            Action::Updated,
            (&diff(license), &diff(&after)),
        )?;
        after_license = Some(after);
    }
    tx.commit().await?;
    let shown = after_license.as_ref().and_then(|l| l.users.iter().find(|e| e.id == changed.id));
    Ok(ok(&match shown {
        Some(on_license) => render_entry(on_license, Some(&changed)),
        None => render(&changed),
    }))
}

/// What a PATCH sets on a license (`license=`) besides the user.
#[derive(Debug, Default, PartialEq)]
struct OnLicenseChange {
    is_manager: Option<bool>,
    max_activations: Option<i64>,
}

/// The user after a PATCH body, the license values it sets, and the license it names (body
/// `license`, else the query's). 400 naming each bad field.
fn patched(
    body: &Map<String, Value>,
    user: &CompanyUser,
    query: &[(String, String)],
) -> Result<(CompanyUser, OnLicenseChange, Option<Id>), ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    let mut changed = user.clone();
    if let Some(name) = input.string("first_name", SHORT_TEXT) {
        changed.first_name = name;
    }
    if let Some(name) = input.string("last_name", SHORT_TEXT) {
        changed.last_name = name;
    }
    if let Some(phone) = input.string("phone_number", SHORT_TEXT) {
        changed.phone_number = phone;
    }
    let on_license = OnLicenseChange {
        is_manager: input.bool("is_manager"),
        max_activations: input.int("max_activations", 0, i32::MAX.into()),
    };
    changed.is_manager = on_license.is_manager.unwrap_or(changed.is_manager);
    changed.max_activations = on_license.max_activations.unwrap_or(changed.max_activations);
    let license = match input.has("license") {
        true => input.id("license"),
        false => match query.iter().find(|(name, value)| name == "license" && !value.trim().is_empty()) {
            Some((_, value)) => match value.trim().parse::<Id>() {
                Ok(id) => Some(id),
                Err(_) => {
                    input.error("license", "Enter a whole number.");
                    None
                }
            },
            None => None,
        },
    };
    errors.into_result()?;
    Ok((changed, on_license, license))
}

/// `set_password/` with `{"password"}` (8+ characters): stored as an Argon2id hash; the user
/// has no initial password any more. Answers the user.
async fn set_password(app: &App, req: &Request, routed: &Routed, id: Id) -> Result<Response<Body>, ApiError> {
    require_unscoped(&routed.principal)?;
    let body = crate::http::json_object(req)?;
    let password = read_password(&body)?;
    let store: TenantStore<'_> = app.store.tenant(routed.principal.company);
    let user = store.get::<CompanyUser>(id).await?.ok_or(ApiError::NotFound)?;
    let mut changed = user.clone();
    changed.set_password(&password);
    changed.updated_at = later_than(user.updated_at);
    let mut tx = store.transaction();
    tx.replace(&user, &changed)?;
    tx.commit().await?;
    Ok(ok(&users::render(&changed)))
}

/// `password`: required, at least [`MIN_PASSWORD_LENGTH`] characters.
fn read_password(body: &Map<String, Value>) -> Result<String, ApiError> {
    let mut errors = FieldErrors::default();
    let password = Input::new(body, &mut errors).required_string("password", SHORT_TEXT);
    errors.into_result()?;
    let password = password.unwrap_or_default();
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(ApiError::field(
            "password",
            format!("Ensure this field has at least {MIN_PASSWORD_LENGTH} characters."),
        ));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> CompanyUser {
        let entry = users::read_entry(
            &mut Input::new(&Map::new(), &mut FieldErrors::default()),
            "Ann@X.io".into(),
            crate::timefmt::now(),
        );
        CompanyUser::new(7, &entry, crate::timefmt::now())
    }

    #[test]
    fn a_patch_changes_the_person_and_names_the_license_values_and_bad_fields() {
        let body = json!({"first_name": "Ann", "is_manager": true, "max_activations": 3});
        let (changed, on_license, license) = patched(body.as_object().unwrap(), &user(), &[]).unwrap();
        assert_eq!((changed.first_name.as_str(), changed.is_manager, changed.max_activations), ("Ann", true, 3));
        assert_eq!(on_license, OnLicenseChange { is_manager: Some(true), max_activations: Some(3) });
        assert_eq!(license, None);
        let query = [("license".to_string(), "42".to_string())];
        assert_eq!(patched(&Map::new(), &user(), &query).unwrap().2, Some(42));
        let bad = json!({"max_activations": -1, "license": "x"});
        let err = patched(bad.as_object().unwrap(), &user(), &[]).unwrap_err().body();
        assert!(err["max_activations"].is_array() && err["license"].is_array(), "{err}");
    }

    #[test]
    fn passwords_need_eight_characters_and_are_never_kept_in_clear() {
        assert!(read_password(json!({"password": "short"}).as_object().unwrap()).is_err());
        assert!(read_password(&Map::new()).is_err());
        let mut user = user();
        assert!(user.initial_password.is_some());
        user.set_password(&read_password(json!({"password": "long enough"}).as_object().unwrap()).unwrap());
        assert_eq!(user.initial_password, None);
        let stored = user.password_hash.clone().unwrap();
        assert!(!stored.contains("long enough") && crate::passwords::verify(&stored, "long enough"));
        assert_eq!(render(&user)["is_initial_password"], false);
    }
}
