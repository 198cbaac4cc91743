//! Devices: what License API activations create on a license (LICENSE-API.md §0), and the
//! Management API's `/api/v1/devices/` over them (issue 15).
//!
//! A license's devices live in the license item, bounded by `max_activations` (so the rules of
//! §0 are one read and one conditional write), and blacklisted devices beside them (at most
//! [`MAX_BLACKLISTED`]). Each device's id is claimed by a marker owned by the license, like a
//! custom field value's: written, moved and released in the license's own transaction. So a
//! device's license is one GetItem away, and the markers list the company's devices in id
//! order (GSI1), a product's (GSI2), a hardware id's (GSI3) and a hostname's (GSI4), counted
//! per company and per product. A device deactivated (by the License API, a reset or a license
//! reset) leaves the list; its activations and deactivations stay in the activation history.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::activations::ActivationEntry;
use super::handlers::{visible_license, visible_of};
use super::history::Action;
use super::lifecycle::commit_change_with;
use super::markers::{claimed_by, page_of_markers};
use super::License;
use crate::app::{respond, route, App, Routed};
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::http::{ok, query_pairs};
use crate::ids::Id;
use crate::listing::{page_body, FilterSpec, ListQuery, ListRules, Lookup, OrderSpec, MAX_LIMIT};
use crate::store::{keys, ClaimExtras, IndexKey, IndexPager, ListedClaim, TenantStore, UniqueKey};
use crate::timefmt::{format_time, rfc3339, rfc3339_option};

/// Most blacklisted devices one license keeps: they live in the license item, and each has a
/// marker that a DELETE of the license releases in its one transaction (100 writes).
pub const MAX_BLACKLISTED: usize = 20;
/// Most devices a `hardware_id` or `hostname` filter reads: one machine's devices.
const MAX_DEVICES_OF_ONE_MACHINE: usize = 10_000;

/// A device a license is active on, as its activation described it (LICENSE-API.md §0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Its id in `/api/v1/devices/{id}/` (0 on devices activated before devices had ids: they
    /// are not listed).
    #[serde(default)]
    pub id: Id,
    pub hardware_id: String,
    pub hostname: String,
    pub os_ver: String,
    pub ip: String,
    pub mac_address: String,
    pub is_vm: bool,
    pub vm_info: Option<String>,
    pub app_ver: Option<String>,
    pub sdk_ver: Option<String>,
    /// The license user whose activation this is (user-based licenses): a deactivation gives
    /// the activation back to that user.
    #[serde(default)]
    pub license_user: Option<Id>,
    #[serde(with = "rfc3339")]
    pub time_activated: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub last_check: OffsetDateTime,
    /// Until when the device holds one of a floating cloud license's `floating_users` seats:
    /// `floating_timeout` minutes past its last check, or the end of a borrow.
    #[serde(default, with = "rfc3339_option")]
    pub floating_until: Option<OffsetDateTime>,
    /// The end of the device's borrow of its floating seat (`floating/borrow`).
    #[serde(default, with = "rfc3339_option")]
    pub borrowed_until: Option<OffsetDateTime>,
    /// What the application reported about the device (`track_device_variables`).
    #[serde(default)]
    pub variables: Vec<DeviceVariable>,
}

/// One device variable (LICENSE-API.md §5.3 DEVICE_VARIABLES).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceVariable {
    pub variable: String,
    pub value: Value,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A device's seat of a floating cloud feature (`check_license_feature`, `floating/feature_borrow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSeat {
    pub hardware_id: String,
    /// Until when the device holds the seat: `floating_timeout` minutes past its last check,
    /// or the end of a borrow.
    #[serde(with = "rfc3339")]
    pub until: OffsetDateTime,
    #[serde(default, with = "rfc3339_option")]
    pub borrowed_until: Option<OffsetDateTime>,
}

impl Device {
    pub const CLAIM: &'static str = "DEVICE";

    /// The claim of a device's id, owned by its license: how `/devices/{id}/` finds it.
    pub fn claim(id: Id) -> UniqueKey {
        UniqueKey { kind: Self::CLAIM, scope: "-".into(), value: id.to_string(), field: "id" }
    }

    /// Whether the device holds a floating seat at `now` (a seat past its timeout is free).
    pub fn holds_seat(&self, now: OffsetDateTime) -> bool {
        self.floating_until.is_some_and(|until| until > now)
    }

    pub fn is_borrowed(&self, now: OffsetDateTime) -> bool {
        self.borrowed_until.is_some_and(|until| until > now)
    }
}

impl License {
    /// The devices holding a floating seat at `now`.
    pub fn floating_in_use(&self, now: OffsetDateTime) -> usize {
        self.devices.iter().filter(|d| d.holds_seat(now)).count()
    }

    /// Every device with an id, active or blacklisted (each has a marker).
    pub(super) fn listed_devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().chain(&self.blacklisted_devices).filter(|d| d.id != 0)
    }

    /// The device at `at` no longer active: its activation (and its user's) and its seats of
    /// floating features given back.
    pub fn free_device(&mut self, at: usize) -> Device {
        let device = self.devices.remove(at);
        for feature in &mut self.features {
            feature.floating_seats.retain(|s| s.hardware_id != device.hardware_id);
        }
        if let Some(entry) = device.license_user.and_then(|u| self.users.iter_mut().find(|e| e.id == u)) {
            entry.total_activations = (entry.total_activations - 1).max(0);
        }
        self.times_activated = self.devices.len() as i64;
        self.active = !self.devices.is_empty();
        device
    }

    pub fn is_blacklisted(&self, hardware_id: &str) -> bool {
        self.blacklisted_devices.iter().any(|d| d.hardware_id == hardware_id)
    }

    /// A device marker's index entries and counters (see [`ClaimExtras`]).
    pub(super) fn device_claim_extras(&self, company: Id, key: &UniqueKey) -> Option<ClaimExtras> {
        if key.kind != Device::CLAIM {
            return None;
        }
        let device = self.listed_devices().find(|d| d.id.to_string() == key.value)?;
        let sk = keys::padded(device.id);
        let entry = |index: u8, pk: String| IndexKey { index, pk, sk: sk.clone() };
        let mut index = vec![
            entry(1, keys::devices_gsi1pk(company)),
            entry(2, keys::devices_of_product(company, self.product)),
            entry(3, keys::devices_by_hardware_id(company, &device.hardware_id)),
        ];
        if !device.hostname.is_empty() {
            index.push(entry(4, keys::devices_by_hostname(company, &device.hostname)));
        }
        Some(ClaimExtras {
            index,
            counters: vec![keys::DEVICES_COUNTER_PREFIX.to_string(), keys::devices_counter_prefix(self.product)],
        })
    }
}

/// Where a device stands on its license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    Active,
    Blacklisted,
    /// Just reset: no longer on the license (only a reset's answer shows it).
    Deactivated,
}

/// A device with its license, as `/api/v1/devices/` shows it.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub device: Device,
    pub license: Id,
    pub state: DeviceState,
}

impl DeviceRow {
    fn of(license: &License, id: Id) -> Option<Self> {
        let active = license.devices.iter().find(|d| d.id == id).map(|d| (d, DeviceState::Active));
        let (device, state) = active.or_else(|| {
            license.blacklisted_devices.iter().find(|d| d.id == id).map(|d| (d, DeviceState::Blacklisted))
        })?;
        Some(DeviceRow { device: device.clone(), license: license.id, state })
    }

    fn all_of(license: &License) -> Vec<Self> {
        let mut rows: Vec<DeviceRow> = license.listed_devices().filter_map(|d| DeviceRow::of(license, d.id)).collect();
        rows.sort_by_key(|r| r.device.id);
        rows
    }

    /// `{id, license, hardware_id, hostname, os_ver, ip, mac_address, is_vm, vm_info, app_ver,
    /// sdk_ver, time_activated, last_check, device_active, blacklisted, floating_in_use,
    /// borrowed_until, device_variables[{variable, value, created_at}]}`; times UTC "Z".
    pub fn render(&self, now: OffsetDateTime) -> Value {
        let d = &self.device;
        let variables: Vec<Value> = d
            .variables
            .iter()
            .map(|v| json!({"variable": v.variable, "value": v.value, "created_at": format_time(v.created_at)}))
            .collect();
        json!({
            "id": d.id,
            "license": self.license,
            "hardware_id": d.hardware_id,
            "hostname": d.hostname,
            "os_ver": d.os_ver,
            "ip": d.ip,
            "mac_address": d.mac_address,
            "is_vm": d.is_vm,
            "vm_info": d.vm_info,
            "app_ver": d.app_ver,
            "sdk_ver": d.sdk_ver,
            "license_user": d.license_user,
            "time_activated": format_time(d.time_activated),
            "last_check": format_time(d.last_check),
            "device_active": self.state == DeviceState::Active,
            "blacklisted": self.state == DeviceState::Blacklisted,
            "floating_in_use": self.state == DeviceState::Active && d.holds_seat(now),
            "borrowed_until": d.borrowed_until.filter(|_| d.is_borrowed(now)).map(format_time),
            "device_variables": variables,
        })
    }
}

static FILTERS: &[FilterSpec<DeviceRow, ()>] = &[
    FilterSpec { param: "license", lookup: Lookup::IntExact, field: |r, _| r.license.into() },
    FilterSpec { param: "hardware_id", lookup: Lookup::Exact, field: |r, _| r.device.hardware_id.as_str().into() },
    FilterSpec { param: "hostname", lookup: Lookup::Exact, field: |r, _| r.device.hostname.as_str().into() },
];

static ORDERS: &[OrderSpec<DeviceRow, ()>] = &[OrderSpec { name: "id", key: |r, _| r.device.id.into() }];

/// `GET /api/v1/devices/` and `GET /api/v1/devices/{id}/` (one Lambda).
pub async fn devices_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let one = crate::http::api_segments(req.uri().path()).is_some_and(|s| s.len() == 2);
        if one {
            let routed = route(app, &req, &["devices", "{id}"], Method::GET).await?;
            let (_, row) = device_of(app, &routed).await?;
            return Ok(ok(&row.render(crate::timefmt::now())));
        }
        list(app, &req).await
    })
    .await
}

/// `POST /api/v1/devices/{id}/reset/`: the device is deactivated and its activation freed (a
/// vendor's reset counts no transfer, unlike a device's own deactivation); a blacklisted
/// device leaves the blacklist. The device as it was, now `device_active: false`.
pub async fn reset_device_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["devices", "{id}", "reset"], Method::POST).await?;
        let row = change_device(app, &routed, "reset", |license, row| {
            let mut changed = license.clone();
            match changed.devices.iter().position(|d| d.id == row.device.id) {
                Some(at) => {
                    changed.free_device(at);
                }
                None => changed.blacklisted_devices.retain(|d| d.id != row.device.id),
            }
            Ok((changed, DeviceState::Deactivated))
        })
        .await?;
        Ok(ok(&row.render(crate::timefmt::now())))
    })
    .await
}

/// `POST /api/v1/devices/{id}/blacklist/`: the device is deactivated (its activation freed)
/// and its `hardware_id` may not activate the license again (`device_blacklisted`). At most
/// [`MAX_BLACKLISTED`] per license (400). Idempotent. The device, `blacklisted: true`.
pub async fn blacklist_device_handler(app: &App, req: Request) -> Response<Body> {
    respond(&req, async {
        let routed = route(app, &req, &["devices", "{id}", "blacklist"], Method::POST).await?;
        let row = change_device(app, &routed, "blacklist", |license, row| {
            let mut changed = license.clone();
            if let Some(at) = changed.devices.iter().position(|d| d.id == row.device.id) {
                if changed.blacklisted_devices.len() >= MAX_BLACKLISTED {
                    return Err(ApiError::field(
                        "device",
                        format!("A license keeps at most {MAX_BLACKLISTED} blacklisted devices; reset one first."),
                    ));
                }
                let mut device = changed.free_device(at);
                device.floating_until = None;
                device.borrowed_until = None;
                // What it reported goes: the blacklist keeps what identifies it, small.
                device.variables.clear();
                changed.blacklisted_devices.push(device);
            }
            Ok((changed, DeviceState::Blacklisted))
        })
        .await?;
        Ok(ok(&row.render(crate::timefmt::now())))
    })
    .await
}

/// The device `routed.id` and its license (see [`claimed_by`]).
async fn device_of(app: &App, routed: &Routed) -> Result<(License, DeviceRow), ApiError> {
    let id = routed.id.ok_or(ApiError::NotFound)?;
    let store = app.store.tenant(routed.principal.company);
    let license = claimed_by(store, &routed.principal, &Device::claim(id)).await?;
    let row = DeviceRow::of(&license, id).ok_or(ApiError::NotFound)?;
    Ok((license, row))
}

/// Writes what `apply` makes of the device's license (conditional on the license as read: a
/// lost race is 409), with an `updated` history entry and an activation entry `action`.
async fn change_device(
    app: &App,
    routed: &Routed,
    action: &str,
    apply: impl FnOnce(&License, &DeviceRow) -> Result<(License, DeviceState), ApiError>,
) -> Result<DeviceRow, ApiError> {
    let (license, row) = device_of(app, routed).await?;
    let (changed, state) = apply(&license, &row)?;
    if changed == license {
        return Ok(DeviceRow { state, ..row });
    }
    let principal = &routed.principal;
    let catalog = Catalog::load(app.store.tenant(principal.company)).await?;
    let entry = ActivationEntry {
        id: app.ids().await?.next_id(),
        license: license.id,
        product: license.product,
        action: action.into(),
        hardware_id: row.device.hardware_id.clone(),
        created_at: crate::timefmt::now(),
    };
    commit_change_with(app, principal, &license, changed, Action::Updated, &catalog, |tx| tx.create(&entry)).await?;
    Ok(DeviceRow { state, ..row })
}

/// `GET /api/v1/devices/` (filters `license`, `hardware_id`, `hostname`; id order, `-id` for
/// newest first): with `license`, that license's devices (one read); with `hardware_id` or
/// `hostname`, that machine's devices (its marker partition: counted from its markers and
/// paged for an admin; else read whole, at most [`MAX_DEVICES_OF_ONE_MACHINE`]); else a page of
/// the markers of the company's devices (of each of their products, merged by id, for a
/// manager scoped to products), `count` from their counters.
async fn list(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let routed = route(app, req, &["devices"], Method::GET).await?;
    let principal = &routed.principal;
    let store = app.store.tenant(principal.company);
    let query = ListQuery::parse(&query_pairs(req), FILTERS, ORDERS, ListRules::of(req, MAX_LIMIT))?;
    let descending = query.index_order().unwrap_or(false);
    let now = crate::timefmt::now();
    let company = store.company();
    let machine = match (query.text_filter("hardware_id"), query.text_filter("hostname")) {
        (Some(hardware_id), _) => Some((3, keys::devices_by_hardware_id(company, hardware_id))),
        (None, Some(hostname)) => Some((4, keys::devices_by_hostname(company, hostname))),
        (None, None) => None,
    };
    let rows: Vec<DeviceRow> = if let Some(license) = query.int_filter("license") {
        match visible_license(store, principal, license.max(0) as Id).await {
            Ok(license) => DeviceRow::all_of(&license),
            Err(ApiError::NotFound) => Vec::new(),
            Err(other) => return Err(other),
        }
    } else if let (Some((index, pk)), true) = (&machine, principal.is_admin() && query.filters.len() == 1) {
        // One machine filter, for an admin: its markers alone count it (small items, no
        // license read), and the page reads only its own licenses.
        let count = count_markers(store, *index, pk.clone()).await?;
        let window = (query.offset, query.limit.min(count));
        let page =
            page_of_markers(store, principal, vec![(*index, pk.clone())], descending, window, DeviceRow::of).await?;
        let results = page.iter().map(|r| r.render(now)).collect();
        return Ok(ok(&page_body(req, count, query.limit, query.offset, results)));
    } else if let Some((index, pk)) = machine {
        machine_devices(store, principal, index, pk).await?
    } else {
        let catalog = Catalog::load(store).await?;
        let (sources, count) = if principal.is_admin() {
            (vec![(1, keys::devices_gsi1pk(company))], store.counter(keys::DEVICES_COUNTER_PREFIX).await?)
        } else {
            let mut count = 0;
            let mut sources = Vec::new();
            for product in catalog.products.iter().filter(|p| principal.can_access(p.id)) {
                count += store.counter(&keys::devices_counter_prefix(product.id)).await?;
                sources.push((2, keys::devices_of_product(company, product.id)));
            }
            (sources, count)
        };
        let count = count.max(0) as usize;
        let window = (query.offset, query.limit.min(count));
        let page = page_of_markers(store, principal, sources, descending, window, DeviceRow::of).await?;
        let results = page.iter().map(|r| r.render(now)).collect();
        return Ok(ok(&page_body(req, count, query.limit, query.offset, results)));
    };
    let (count, page) = query.apply(&rows, &());
    let results = page.iter().map(|r| r.render(now)).collect();
    Ok(ok(&page_body(req, count, query.limit, query.offset, results)))
}

/// How many markers one machine's partition (GSI `index`, `pk`) holds: device markers are
/// never staged, so each is a device on a committed license.
async fn count_markers(store: TenantStore<'_>, index: u8, pk: String) -> Result<usize, ApiError> {
    let mut pager = IndexPager::<ListedClaim>::new(index, pk, true);
    let mut count = 0;
    while let Some(page) = pager.next_page(store, crate::store::MAX_PAGE_ITEMS).await? {
        count += page.len();
    }
    Ok(count)
}

/// Every visible device of one machine's marker partition (GSI `index`, `pk`), in id order: a
/// manager scoped to products, or a machine filter with another, reads the licenses to tell.
async fn machine_devices(
    store: TenantStore<'_>,
    principal: &Principal,
    index: u8,
    pk: String,
) -> Result<Vec<DeviceRow>, ApiError> {
    let mut pager = IndexPager::<ListedClaim>::new(index, pk, true);
    let mut markers = Vec::new();
    while let Some(page) = pager.next_page(store, 100).await? {
        markers.extend(page);
        if markers.len() >= MAX_DEVICES_OF_ONE_MACHINE {
            break;
        }
    }
    let mut rows = Vec::with_capacity(markers.len());
    for chunk in markers.chunks(100) {
        let owners: Vec<Id> = chunk.iter().map(|m| m.owner).collect();
        let licenses = visible_of(store, principal, &owners).await?;
        rows.extend(chunk.iter().filter_map(|m| {
            let id = m.value.parse::<Id>().ok()?;
            DeviceRow::of(licenses.get(&m.owner)?, id)
        }));
    }
    Ok(rows)
}
