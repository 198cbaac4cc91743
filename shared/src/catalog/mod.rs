//! The company's catalog (products, their features, custom fields and license templates,
//! customer accounts, labels) and customers, served by one generic create/list/retrieve/patch
//! flow: each resource only says how to read its input, render itself, and filter and order.

pub mod accounts;
pub mod custom_fields;
pub mod customers;
pub mod features;
pub mod labels;
pub mod products;
pub mod templates;

use std::future::Future;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::app::{respond, App};
use crate::auth::Principal;
use crate::error::{ApiError, FieldErrors};
use crate::http::{api_segments, created, json_object, ok, query_pairs};
use crate::ids::{Id, IdGenerator};
use crate::input::Input;
use crate::listing::{page_body, page_from_index, FilterSpec, ListQuery, ListRules, OrderSpec, MAX_LIMIT};
use crate::store::{from_item, keys, Entity, IndexPager, StoreError, TenantStore, Transaction};

pub use accounts::CustomerAccount;
pub use custom_fields::CustomField;
pub use customers::Customer;
pub use features::Feature;
pub use labels::Label;
pub use products::Product;
pub use templates::LicenseTemplate;

/// Everything in a company's own partition: one strongly consistent Query, or this container's
/// cached copy while the company's `catalog_version` is unchanged (`TenantStore::company_partition`).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub features: Vec<Feature>,
    pub custom_fields: Vec<CustomField>,
    pub templates: Vec<LicenseTemplate>,
    pub accounts: Vec<CustomerAccount>,
    pub labels: Vec<Label>,
}

impl Catalog {
    pub async fn load(store: TenantStore<'_>) -> Result<Self, StoreError> {
        let mut catalog = Catalog::default();
        for item in store.company_partition().await?.iter().cloned() {
            let kind = item.get(keys::SK).and_then(|v| v.as_s().ok()).and_then(|sk| keys::catalog_kind(sk));
            match kind {
                Some(Product::KIND) => catalog.products.push(from_item(item)?),
                Some(Feature::KIND) => catalog.features.push(from_item(item)?),
                Some(CustomField::KIND) => catalog.custom_fields.push(from_item(item)?),
                Some(LicenseTemplate::KIND) => catalog.templates.push(from_item(item)?),
                Some(CustomerAccount::KIND) => catalog.accounts.push(from_item(item)?),
                Some(Label::KIND) => catalog.labels.push(from_item(item)?),
                _ => {}
            }
        }
        Ok(catalog)
    }

    pub fn product(&self, id: Id) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn product_by_code(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.short_code == code)
    }

    pub fn account(&self, id: Id) -> Option<&CustomerAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn label(&self, id: Id) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id)
    }
}

/// What a write needs besides its input: who asks, the catalog as it will be after the write,
/// ids, one timestamp, and the transaction that side effects (new labels, a template losing
/// its default) join.
pub struct WriteCtx<'a> {
    pub principal: &'a Principal,
    pub catalog: Catalog,
    pub ids: &'a IdGenerator,
    pub now: OffsetDateTime,
    pub tx: Transaction<'a>,
    /// Creating (required fields must be given) or patching (absent fields stay).
    pub creating: bool,
}

/// A resource served at `/api/v1/<PATH>/` and `/api/v1/<PATH>/{id}/`.
pub trait Resource: Entity + Clone + 'static {
    const PATH: &'static str;

    /// The product the object belongs to, for manager scoping; `None` if company-wide.
    fn product(&self) -> Option<Id>;

    /// The list filters this resource accepts.
    const FILTERS: &'static [FilterSpec<Self, Catalog>];

    /// The fields `order_by` accepts.
    const ORDERS: &'static [OrderSpec<Self, Catalog>];

    /// A new object with its defaults, before its input is read.
    fn blank(id: Id, now: OffsetDateTime) -> Self;

    /// Applies the fields `input` gives; when `ctx.creating`, required ones must be there.
    /// Problems are reported to `input`.
    /// `Err` only for failures that are not the client's (they go to `input`).
    fn read(self, input: &mut Input, ctx: &mut WriteCtx) -> Result<Self, ApiError>;

    fn set_updated_at(&mut self, now: OffsetDateTime);

    fn render(&self, catalog: &Catalog) -> Value;

    /// The objects of this kind in the catalog snapshot (none for kinds stored elsewhere).
    fn in_catalog(catalog: &Catalog) -> &[Self];

    fn in_catalog_mut(catalog: &mut Catalog) -> Option<&mut Vec<Self>>;

    /// A new object from a POST body.
    fn create(input: &Map<String, Value>, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        let blank = Self::blank(ctx.ids.next_id(), ctx.now);
        read_input(input, |i| blank.read(i, ctx))
    }

    /// This object changed by a PATCH body.
    fn update(&self, input: &Map<String, Value>, ctx: &mut WriteCtx) -> Result<Self, ApiError> {
        let mut changed = read_input(input, |i| self.clone().read(i, ctx))?;
        changed.set_updated_at(ctx.now);
        Ok(changed)
    }

    /// Puts a written object into the catalog the response is rendered from.
    fn remember(&self, catalog: &mut Catalog) {
        if let Some(items) = Self::in_catalog_mut(catalog) {
            items.retain(|item| item.id() != self.id());
            items.push(self.clone());
        }
    }

    /// The candidates of a list, before filters.
    fn load(
        _store: TenantStore<'_>,
        catalog: &Catalog,
        _query: &ListQuery<'_, Self, Catalog>,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send {
        std::future::ready(Ok(Self::in_catalog(catalog).to_vec()))
    }

    /// The index partition (`GSI<n>`, `GSI<n>PK`) a list of this kind pages from, a Query page
    /// at a time (API.md §9), when it is kept outside the catalog partition and `query` has no
    /// lookup of its own; `None`: the list is `load`ed whole.
    fn index(_company: Id, _query: &ListQuery<'_, Self, Catalog>) -> Option<(u8, String)> {
        None
    }

    fn find(
        _store: TenantStore<'_>,
        catalog: &Catalog,
        id: Id,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        std::future::ready(Ok(Self::in_catalog(catalog).iter().find(|item| item.id() == id).cloned()))
    }
}

/// The Lambda handler of resource `R`.
pub async fn handle<R: Resource>(app: &App, req: Request) -> Response<Body> {
    respond(&req, serve::<R>(app, &req)).await
}

async fn serve<R: Resource>(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let target = match api_segments(req.uri().path()).as_deref() {
        Some([resource]) if resource == R::PATH => None,
        Some([resource, id]) if resource == R::PATH => Some(id.parse::<Id>().map_err(|_| ApiError::NotFound)?),
        _ => return Err(ApiError::NotFound),
    };
    let principal = app.authenticate(req).await?;
    let store = app.store.tenant(principal.company);
    let method = req.method();
    let allowed = if target.is_some() { [Method::GET, Method::PATCH] } else { [Method::GET, Method::POST] };
    if !allowed.contains(method) {
        return Err(ApiError::MethodNotAllowed(method.to_string()));
    }
    let catalog = Catalog::load(store).await?;
    match target {
        None if method == Method::GET => list::<R>(req, store, &catalog, &principal).await,
        None => {
            let input = json_object(req)?;
            let mut ctx = write_ctx(app, store, catalog, &principal, true).await?;
            let entity = R::create(&input, &mut ctx)?;
            if let Some(product) = entity.product() {
                if !principal.can_access(product) {
                    return Err(ApiError::PermissionDenied(
                        "You do not have permission to perform this action.".into(),
                    ));
                }
            }
            ctx.tx.create(&entity)?;
            ctx.tx.commit().await?;
            entity.remember(&mut ctx.catalog);
            Ok(created(&entity.render(&ctx.catalog)))
        }
        Some(id) if method == Method::GET => {
            let entity = visible::<R>(store, &catalog, &principal, id).await?;
            Ok(ok(&entity.render(&catalog)))
        }
        Some(id) => {
            let current = visible::<R>(store, &catalog, &principal, id).await?;
            let input = json_object(req)?;
            let mut ctx = write_ctx(app, store, catalog, &principal, false).await?;
            let entity = current.update(&input, &mut ctx)?;
            ctx.tx.replace(&current, &entity)?;
            ctx.tx.commit().await?;
            entity.remember(&mut ctx.catalog);
            Ok(ok(&entity.render(&ctx.catalog)))
        }
    }
}

async fn write_ctx<'a>(
    app: &'a App,
    store: TenantStore<'a>,
    catalog: Catalog,
    principal: &'a Principal,
    creating: bool,
) -> Result<WriteCtx<'a>, ApiError> {
    Ok(WriteCtx {
        principal,
        catalog,
        ids: app.ids().await?,
        now: crate::timefmt::now(),
        tx: store.transaction(),
        creating,
    })
}

async fn list<R: Resource>(
    req: &Request,
    store: TenantStore<'_>,
    catalog: &Catalog,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    let mut pairs = query_pairs(req);
    let by_json = json_order::<R>(&mut pairs, catalog);
    let query = ListQuery::parse(&pairs, R::FILTERS, R::ORDERS, ListRules::of(req, MAX_LIMIT))?;
    if let (Some((index, pk)), None) = (R::index(store.company(), &query), &by_json) {
        // Not in the catalog: paged, counted by the kind's counter when nothing filters.
        let forward = !query.index_order().unwrap_or(false);
        let mut pager = IndexPager::new(index, pk, forward);
        let count = match query.filters.is_empty() && R::COUNTED {
            true => Some(store.entity_count::<R>().await?.max(0) as usize),
            false => None,
        };
        let in_scope = |item: &R| item.product().is_none_or(|p| principal.can_access(p));
        let (count, page) = page_from_index(store, &query, catalog, count, &mut pager, in_scope).await?;
        let results = page.iter().map(|item| item.render(catalog)).collect();
        return Ok(ok(&page_body(req, count, query.limit, query.offset, results)));
    }
    let mut items = R::load(store, catalog, &query).await?;
    items.retain(|item| item.product().is_none_or(|p| principal.can_access(p)));
    let Some((field, descending)) = by_json else {
        let (count, page) = query.apply(&items, catalog);
        let results = page.into_iter().map(|item| item.render(catalog)).collect();
        return Ok(ok(&page_body(req, count, query.limit, query.offset, results)));
    };
    // Ordered by a field of the JSON that has no ordering of its own: the matches are
    // rendered, then sorted by that field (a catalog is small; customers are read whole anyway).
    let mut rendered: Vec<Value> =
        query.apply_all(&items, catalog).into_iter().map(|item| item.render(catalog)).collect();
    crate::listing::sort_ties_by_arrival(&mut rendered, descending, |a, b| {
        crate::listing::compare_json(&a[field.as_str()], &b[field.as_str()])
    });
    let count = rendered.len();
    let results = rendered.into_iter().skip(query.offset).take(query.limit).collect();
    Ok(ok(&page_body(req, count, query.limit, query.offset, results)))
}

/// Takes `order_by` out of `pairs` when it names a scalar field of the resource's JSON that
/// `R::ORDERS` does not list (API.md §1: any scalar field); the field and whether descending.
fn json_order<R: Resource>(pairs: &mut Vec<(String, String)>, catalog: &Catalog) -> Option<(String, bool)> {
    let position = pairs.iter().position(|(name, value)| name == "order_by" && !value.trim().is_empty())?;
    let value = pairs[position].1.trim().to_string();
    let (descending, field) = match value.strip_prefix('-') {
        Some(field) => (true, field.to_string()),
        None => (false, value.clone()),
    };
    if R::ORDERS.iter().any(|o| o.name == field) {
        return None;
    }
    let blank = R::blank(0, crate::timefmt::now()).render(catalog);
    let scalar = blank.get(&field).is_some_and(|v| !v.is_object() && !v.is_array());
    if !scalar {
        return None; // left for ListQuery::parse to refuse
    }
    pairs.remove(position);
    Some((field, descending))
}

/// The object, if it exists in this company and the manager may see its product.
async fn visible<R: Resource>(
    store: TenantStore<'_>,
    catalog: &Catalog,
    principal: &Principal,
    id: Id,
) -> Result<R, ApiError> {
    let entity = R::find(store, catalog, id).await?.ok_or(ApiError::NotFound)?;
    if entity.product().is_some_and(|p| !principal.can_access(p)) {
        return Err(ApiError::NotFound);
    }
    Ok(entity)
}

/// Reads a field naming a product of this company by id (`product`). Required when creating;
/// cannot change afterwards.
pub fn read_product_ref(input: &mut Input, ctx: &WriteCtx, current: Option<Id>) -> Option<Id> {
    match current {
        Some(current) => {
            if let Some(id) = input.has("product").then(|| input.id("product")).flatten() {
                if id != current {
                    input.error("product", "The product of an existing object cannot be changed.");
                }
            }
            Some(current)
        }
        None => {
            let id = input.required_id("product")?;
            if ctx.catalog.product(id).is_none() {
                input.error("product", format!("Invalid pk \"{id}\" - object does not exist."));
                return None;
            }
            Some(id)
        }
    }
}

/// Runs `read` over a body and turns the errors it reported into a 400.
pub fn read_input<T>(
    input: &Map<String, Value>,
    read: impl FnOnce(&mut Input) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut errors = FieldErrors::default();
    let value = read(&mut Input::new(input, &mut errors))?;
    errors.into_result()?;
    Ok(value)
}

/// Serde adapter: a JSON value stored as its text (metadata, property maps), so that any JSON
/// a client sends round-trips exactly, whatever DynamoDB's rules for maps and empty keys.
pub mod json_text {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}
