//! A license's users (API.md §8.2): `assign_user/`, `assign_users/`, `unassign_user/` and
//! `set_users_activations/`. Each is one conditional write of the license with its history entry
//! (`lifecycle::change`: a lost race is a 409). Users new to the company are created first
//! (`users::ensure`) and stay if the license's write then fails, as for an order (§4).

use std::collections::HashMap;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::handlers::{shown, visible_license};
use super::history::Action;
use super::lifecycle::{change, change_read, commit_change_with};
use super::users::{self, CompanyUser, MAX_LICENSE_USERS};
use super::{License, LicenseUser, Related, RenderCtx};
use crate::app::{respond, route, App, Routed};
use crate::catalog::Catalog;
use crate::error::{ApiError, FieldErrors};
use crate::ids::Id;
use crate::input::Input;

/// Most emails one `assign_users/` call takes: a license's most users.
const MAX_ASSIGNED: usize = MAX_LICENSE_USERS;

/// `POST /api/v1/licenses/{id}/assign_user/`, `assign_users/`, `unassign_user/` and
/// `set_users_activations/` (one Lambda: the four change the same list).
pub async fn license_user_assignments_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let segments = crate::http::api_segments(req.uri().path()).unwrap_or_default();
        let action = segments.get(2).cloned().unwrap_or_default();
        let routed = route(app, &req, &["licenses", "{id}", action.as_str()], Method::POST).await?;
        let body = crate::http::json_object(&req)?;
        let now = crate::timefmt::now();
        match action.as_str() {
            "assign_user" => Ok(crate::http::ok(&assign_one(app, &routed, read_assigned(&body, now)?, now).await?)),
            "assign_users" => {
                let entries = read_assigned_list(&body, now)?;
                let (license, assigned) = assigned_users(app, &routed, entries, now).await?;
                let ids: Vec<Id> = assigned.iter().map(|e| e.id).collect();
                let after = change_read(app, &routed.principal, license, Action::UserAssigned, |license, _| {
                    assign(license, assigned, |i| format!("emails.{i}.email"))
                })
                .await?;
                // One result per email, in the order given: the user as the license now has it.
                let by_id: HashMap<Id, &Value> = after["license_users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| Some((u["id"].as_u64()?, u)))
                    .collect();
                let results: Vec<Value> = ids.iter().filter_map(|id| by_id.get(id).map(|u| (*u).clone())).collect();
                Ok(crate::http::ok(&Value::Array(results)))
            }
            "unassign_user" => {
                let mut errors = FieldErrors::default();
                let id = Input::new(&body, &mut errors).required_id("license_user_id");
                errors.into_result()?;
                let id = id.ok_or_else(|| ApiError::field("license_user_id", crate::input::REQUIRED))?;
                let after = change(app, &routed, Action::UserUnassigned, |license, _| {
                    if !license.users.iter().any(|u| u.id == id) {
                        return Err(ApiError::field("license_user_id", "Not a user of this license."));
                    }
                    let mut changed = license.clone();
                    changed.users.retain(|u| u.id != id);
                    Ok(changed)
                })
                .await?;
                Ok(crate::http::ok(&after))
            }
            "set_users_activations" => {
                let after = change(app, &routed, Action::Updated, |license, _| set_activations(&body, license)).await?;
                Ok(crate::http::ok(&after))
            }
            _ => Err(ApiError::NotFound),
        }
    })
    .await
}

/// An `assign_user/` body: `email` and the user's other fields (`users::read_entry`).
fn read_assigned(body: &Map<String, Value>, now: time::OffsetDateTime) -> Result<LicenseUser, ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    let email = input.email("email", true);
    let entry = email.map(|email| users::read_entry(&mut input, email, now));
    errors.into_result()?;
    entry.ok_or_else(|| ApiError::field("email", crate::input::REQUIRED))
}

/// An `assign_users/` body: `{"emails": [{"email", "is_manager"}, …]}`, each email once.
fn read_assigned_list(body: &Map<String, Value>, now: time::OffsetDateTime) -> Result<Vec<LicenseUser>, ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    if !input.has("emails") {
        input.error("emails", crate::input::REQUIRED);
    }
    let items = input.list("emails", MAX_ASSIGNED).cloned().unwrap_or_default();
    let mut entries: Vec<LicenseUser> = Vec::with_capacity(items.len());
    for (path, object) in input.objects("emails", &items) {
        let mut child = input.child(object, &path);
        let Some(email) = child.email("email", true) else { continue };
        if entries.iter().any(|e| e.email.eq_ignore_ascii_case(&email)) {
            child.error("email", "Listed twice.");
            continue;
        }
        entries.push(users::read_entry(&mut child, email, now));
    }
    errors.into_result()?;
    Ok(entries)
}

/// `assign_user/`: the license JSON after. Its DynamoDB requests: the license and the email's
/// claim (one BatchGetItem), the catalog version, the user with the license's customer and
/// users (one BatchGetItem), and one transaction that also creates the user if new (so a
/// refused or lost assignment creates nobody) and the user's entry for the License API.
async fn assign_one(
    app: &App,
    routed: &Routed,
    entry: LicenseUser,
    now: time::OffsetDateTime,
) -> Result<serde_json::Value, ApiError> {
    let principal = &routed.principal;
    let store = app.store.tenant(principal.company);
    let claim = CompanyUser::email_claim(&entry.email);
    let (license, owner) = store.get_with_owner::<License>(routed.id.ok_or(ApiError::NotFound)?, &claim).await?;
    let license = shown(store, principal, license.ok_or(ApiError::NotFound)?).await?;
    if license.users.iter().any(|u| u.email.eq_ignore_ascii_case(&entry.email)) {
        return Err(ApiError::field("email", ALREADY_ASSIGNED));
    }
    check_room(&license, 1)?;
    let catalog = Catalog::load(store).await?;
    let mut related = Related::default();
    related.fill_with_users(store, [&license], [], owner).await?;
    let (user, new) = match owner.and_then(|id| related.users.get(&id)) {
        Some(user) => (user.clone(), false),
        None => (CompanyUser::new(app.ids().await?.next_id(), &entry, now), true),
    };
    let mut changed = license.clone();
    changed.users.push(LicenseUser { id: user.id, password: None, ..entry });
    let changed = commit_change_with(app, principal, &license, changed, Action::UserAssigned, &catalog, |tx| {
        // A user-based activation finds a user's licenses by this entry.
        tx.index_user_license(user.id, license.id)?;
        match new {
            // Another request claiming the email meanwhile fails this one: a 409, nothing written.
            true => tx.create_after_lookup(&user),
            false => Ok(()),
        }
    })
    .await?;
    related.users.insert(user.id, user);
    Ok(changed.render(&RenderCtx { company: principal.company, catalog: &catalog, related: &related }))
}

/// For `assign_users/`: the license (visible, else 404 before anything is written) and
/// `entries` as its users:
/// each the company user of its email (created if new), checked against the license first so
/// a refused assignment creates nobody.
async fn assigned_users(
    app: &App,
    routed: &Routed,
    entries: Vec<LicenseUser>,
    now: time::OffsetDateTime,
) -> Result<(License, Vec<LicenseUser>), ApiError> {
    let store = app.store.tenant(routed.principal.company);
    let license = visible_license(store, &routed.principal, routed.id.ok_or(ApiError::NotFound)?).await?;
    let field = |i: usize| format!("emails.{i}.email");
    let mut errors = FieldErrors::default();
    for (i, entry) in entries.iter().enumerate() {
        if license.users.iter().any(|u| u.email.eq_ignore_ascii_case(&entry.email)) {
            errors.add(field(i), ALREADY_ASSIGNED);
        }
    }
    errors.into_result()?;
    check_room(&license, entries.len())?;
    let wanted: HashMap<String, LicenseUser> = entries.iter().map(|e| (e.email.to_lowercase(), e.clone())).collect();
    let found = users::ensure(store, app.ids().await?, &wanted, now).await?;
    let assigned = entries
        .into_iter()
        .map(|e| match found.get(&e.email.to_lowercase()) {
            Some(user) => Ok(LicenseUser { id: user.id, password: None, ..e }),
            None => Err(ApiError::Conflict("Another request was creating this user; try again.".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let on_license: Vec<(Id, Id)> = assigned.iter().map(|u| (u.id, license.id)).collect();
    store.index_user_licenses(&on_license).await?;
    Ok((license, assigned))
}

const ALREADY_ASSIGNED: &str = "This user is already assigned to the license.";

/// `license` with `assigned` added: each must be new to it (else 400 at `field(i)`), within
/// [`check_room`].
fn assign(license: &License, assigned: Vec<LicenseUser>, field: impl Fn(usize) -> String) -> Result<License, ApiError> {
    let mut errors = FieldErrors::default();
    for (i, entry) in assigned.iter().enumerate() {
        if license.users.iter().any(|u| u.id == entry.id) {
            errors.add(field(i), ALREADY_ASSIGNED);
        }
    }
    errors.into_result()?;
    check_room(license, assigned.len())?;
    let mut changed = license.clone();
    changed.users.extend(assigned);
    Ok(changed)
}

/// A license holds at most `max_license_users` users when that is above 0 (API.md §8.2), and
/// never more than [`MAX_LICENSE_USERS`]: 400 naming `max_license_users` if `adding` more
/// would pass that.
fn check_room(license: &License, adding: usize) -> Result<(), ApiError> {
    let allowed = match license.max_license_users {
        n if n > 0 => (n as usize).min(MAX_LICENSE_USERS),
        _ => MAX_LICENSE_USERS,
    };
    match license.users.len() + adding > allowed {
        true => Err(ApiError::field(
            "max_license_users",
            format!("The license allows at most {allowed} users; it has {}.", license.users.len()),
        )),
        false => Ok(()),
    }
}

/// `license` after a `set_users_activations/` body: `{"<license user id>": {"max_activations":
/// N, "reset_total_activations": true}, …}`; a key that is not one of its users is a 400 naming
/// it.
fn set_activations(body: &Map<String, Value>, license: &License) -> Result<License, ApiError> {
    let mut errors = FieldErrors::default();
    let mut changed = license.clone();
    for (key, value) in body {
        let Some(user) = key.trim().parse::<Id>().ok().and_then(|id| changed.users.iter_mut().find(|u| u.id == id))
        else {
            errors.add(key.clone(), "Not a user of this license.");
            continue;
        };
        let Some(object) = value.as_object() else {
            errors.add(key.clone(), "Expected an object.");
            continue;
        };
        let mut input = Input::nested(object, key.clone(), &mut errors);
        if let Some(max) = input.int("max_activations", 0, i32::MAX.into()) {
            user.max_activations = max;
        }
        if input.bool("reset_total_activations") == Some(true) {
            user.total_activations = 0;
        }
    }
    errors.into_result()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn license_with(users: &[Id], max_license_users: i64) -> License {
        let mut license = crate::licenses::tests::sample();
        license.max_license_users = max_license_users;
        license.users = users.iter().map(|id| entry(*id)).collect();
        license
    }

    fn entry(id: Id) -> LicenseUser {
        let now = crate::timefmt::now();
        LicenseUser {
            id,
            ..users::read_entry(&mut Input::new(&Map::new(), &mut FieldErrors::default()), format!("u{id}@x.io"), now)
        }
    }

    #[test]
    fn assigning_refuses_a_second_assignment_and_more_users_than_allowed() {
        let license = license_with(&[1], 2);
        assert_eq!(assign(&license, vec![entry(2)], |_| "email".into()).unwrap().users.len(), 2);
        let twice = assign(&license, vec![entry(1)], |_| "email".into()).unwrap_err();
        assert_eq!(twice.body(), json!({"email": ["This user is already assigned to the license."]}));
        let full = assign(&license, vec![entry(2), entry(3)], |i| format!("emails.{i}.email")).unwrap_err();
        assert!(full.body()["max_license_users"].is_array(), "{}", full.body());
        assert_eq!(assign(&license_with(&[1], 0), vec![entry(2), entry(3)], |_| "e".into()).unwrap().users.len(), 3);
    }

    #[test]
    fn activations_are_set_per_user_and_unknown_users_are_named() {
        let mut license = license_with(&[1, 2], 0);
        license.users[0].total_activations = 4;
        let body = json!({"1": {"max_activations": 7, "reset_total_activations": true}});
        let changed = set_activations(body.as_object().unwrap(), &license).unwrap();
        assert_eq!((changed.users[0].max_activations, changed.users[0].total_activations), (7, 0));
        assert_eq!(changed.users[1], license.users[1]);
        let bad = json!({"9": {"max_activations": 1}, "2": {"max_activations": -1}});
        let err = set_activations(bad.as_object().unwrap(), &license).unwrap_err().body();
        assert!(err["9"].is_array() && err["2.max_activations"].is_array(), "{err}");
    }
}
