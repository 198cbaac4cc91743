//! The license endpoints, one handler per Lambda: retrieve, list, update_features.

use std::collections::HashMap;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::history::Action;
use super::lifecycle::change;
use super::list::page::list;
use super::list::{canonical_pairs, parse_query};
use super::{License, LicenseFeature, Related, RenderCtx};
use crate::app::{respond, route, App};
use crate::auth::Principal;
use crate::catalog::templates::MAX_FEATURES;
use crate::catalog::Catalog;
use crate::error::{ApiError, FieldErrors};
use crate::ids::{Id, IdGenerator};
use crate::input::Input;
use crate::license_props::{self, FEATURE_OVERRIDES};
use crate::listing::{page_body, ListRules, LICENSES_MAX_LIMIT};
use crate::orders::Order;
use crate::store::TenantStore;

/// The license, if it exists in this company, its order committed it, and the manager may see
/// its product.
pub(super) async fn visible_license(
    store: TenantStore<'_>,
    principal: &Principal,
    id: Id,
) -> Result<License, ApiError> {
    let license = store.get::<License>(id).await?.ok_or(ApiError::NotFound)?;
    shown(store, principal, license).await
}

/// `license` (as read) if the manager may see it: its product is in scope and its order
/// committed it (else 404).
pub(super) async fn shown(
    store: TenantStore<'_>,
    principal: &Principal,
    license: License,
) -> Result<License, ApiError> {
    if !principal.can_access(license.product) {
        return Err(ApiError::NotFound);
    }
    if license.attempt.is_some() {
        let order = store.get::<Order>(license.order).await?;
        if !order.is_some_and(|o| o.shows(&license)) {
            return Err(ApiError::NotFound);
        }
    }
    Ok(license)
}

/// Those of the licenses with these ids that exist and `principal` may see (their order
/// committed them), by id: one BatchGetItem per 100, and one for the orders of staged ones.
pub(super) async fn visible_of(
    store: TenantStore<'_>,
    principal: &Principal,
    ids: &[Id],
) -> Result<HashMap<Id, License>, ApiError> {
    let found = store.get_many::<License>(ids).await?;
    let staged: Vec<Id> = found.iter().filter(|l| l.attempt.is_some()).map(|l| l.order).collect();
    let orders: HashMap<Id, Order> = store.get_many::<Order>(&staged).await?.into_iter().map(|o| (o.id, o)).collect();
    Ok(found
        .into_iter()
        .filter(|l| principal.can_access(l.product))
        .filter(|l| l.attempt.is_none() || orders.get(&l.order).is_some_and(|o| o.shows(l)))
        .map(|l| (l.id, l))
        .collect())
}

/// The license JSON of each of `licenses`, with their customers and users (one BatchGetItem).
pub(super) async fn render_all(
    store: TenantStore<'_>,
    catalog: &Catalog,
    licenses: &[License],
) -> Result<Vec<Value>, ApiError> {
    let mut related = Related::default();
    related.fill(store, licenses, []).await?;
    let render = RenderCtx { company: store.company(), catalog, related: &related };
    Ok(licenses.iter().map(|l| l.render(&render)).collect())
}

/// `GET /api/v1/licenses/{id}/`: the license item (one read), the catalog and its customer.
pub async fn get_license_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "{id}"], Method::GET).await?;
        let store = app.store.tenant(routed.principal.company);
        let license = visible_license(store, &routed.principal, routed.id.ok_or(ApiError::NotFound)?).await?;
        let catalog = Catalog::load(store).await?;
        let mut rendered = render_all(store, &catalog, std::slice::from_ref(&license)).await?;
        Ok(crate::http::ok(&rendered.remove(0)))
    })
    .await
}

/// `GET /api/v1/licenses/`: see `list` for the access paths.
pub async fn list_licenses_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses"], Method::GET).await?;
        let principal = &routed.principal;
        let store = app.store.tenant(principal.company);
        let pairs = canonical_pairs(crate::http::query_pairs(&req));
        let query = parse_query(&pairs, ListRules::of(&req, LICENSES_MAX_LIMIT))?;
        let catalog = Catalog::load(store).await?;
        let mut listed = list(store, principal, &query, catalog, crate::timefmt::now()).await?;
        listed.ctx.related.fill(store, &listed.page, []).await?;
        let ctx = &listed.ctx;
        let render = RenderCtx { company: principal.company, catalog: &ctx.catalog, related: &ctx.related };
        let results = listed.page.iter().map(|l| l.render(&render)).collect();
        Ok(crate::http::ok(&page_body(&req, listed.count, query.limit, query.offset, results)))
    })
    .await
}

/// `POST /api/v1/licenses/{id}/update_features/` (seed 003): the listed features are created or
/// updated, the others removed, in one conditional write of the license item.
pub async fn update_features_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["licenses", "{id}", "update_features"], Method::POST).await?;
        let body = crate::http::json_object(&req)?;
        let ids = app.ids().await?;
        let after = change(app, &routed, Action::FeaturesUpdated, |license, catalog| {
            Ok(License { features: replace_features(&body, license, catalog, ids)?, ..license.clone() })
        })
        .await?;
        Ok(crate::http::ok(&after))
    })
    .await
}

/// The license's features after an update_features body (API.md §5). Pure but for new ids.
pub fn replace_features(
    body: &Map<String, Value>,
    license: &License,
    catalog: &Catalog,
    ids: &IdGenerator,
) -> Result<Vec<LicenseFeature>, ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    if !input.has("product_features") {
        input.error("product_features", crate::input::REQUIRED);
    }
    let entries = input.list("product_features", MAX_FEATURES).cloned().unwrap_or_default();
    let mut features: Vec<LicenseFeature> = Vec::with_capacity(entries.len());
    for (path, entry) in input.objects("product_features", &entries) {
        let mut child = input.child(entry, &path);
        let Some(feature) = feature_named(&mut child, license.product, catalog) else { continue };
        if features.iter().any(|f| f.feature == feature.id) {
            child.error("product_feature", "Listed twice.");
            continue;
        }
        let overrides = license_props::read(&mut child, FEATURE_OVERRIDES);
        let mut updated = match license.features.iter().find(|f| f.feature == feature.id) {
            Some(current) => current.clone(),
            None => LicenseFeature::new(ids.next_id(), feature),
        };
        updated.apply(&overrides);
        features.push(updated);
    }
    errors.into_result()?;
    Ok(features)
}

/// `product_feature`: a code of the license's product (first), or a feature id (an integer or
/// a string of digits) of that product.
fn feature_named<'c>(input: &mut Input, product: Id, catalog: &'c Catalog) -> Option<&'c crate::catalog::Feature> {
    let of_product = || catalog.features.iter().filter(move |f| f.product == product);
    let found = match input.raw("product_feature") {
        None | Some(Value::Null) => {
            input.error("product_feature", crate::input::REQUIRED);
            return None;
        }
        Some(Value::String(name)) => of_product()
            .find(|f| f.code == *name)
            .or_else(|| crate::input::parse_int(name).and_then(|id| of_product().find(|f| f.id as i64 == id))),
        Some(Value::Number(n)) => n.as_i64().and_then(|id| of_product().find(|f| f.id as i64 == id)),
        Some(_) => None,
    };
    if found.is_none() {
        let given = input.raw("product_feature").map(|v| v.to_string()).unwrap_or_default();
        input.error("product_feature", format!("Unknown feature {given} for this license's product."));
    }
    found
}
