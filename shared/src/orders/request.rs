//! Reading a `create_order` body (seed 004, API.md §4) into licenses ready to store: every
//! property resolved (explicit value, else the order's, else the license template's, else the
//! product's, else the default), every problem reported under its dotted path. Pure: the
//! catalog is given, ids are assigned later.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::catalog::templates::{read_feature_grants, FeatureGrant};
use crate::catalog::{Catalog, LicenseTemplate, Product};
use crate::duration::LicenseDuration;
use crate::error::{ApiError, FieldErrors};
use crate::ids::Id;
use crate::input::{Input, LONG_TEXT, SHORT_TEXT};
use crate::license_props::{self, bool_of, int_of, text_of, Props, LICENSE_PROPERTIES};
use crate::licenses::{custom_field_values, users, CustomFieldValue, License, LicenseFeature, LicenseUser};
use crate::orders::Order;
use crate::timefmt::format_date;

/// Most licenses one request may create.
pub const MAX_LICENSES: usize = 1_000;
const MAX_ITEMS: usize = 1_000;

/// A license to create: every property resolved. Ids, order, customer and generated keys are
/// filled in when the order is written.
#[derive(Debug, Clone)]
pub struct PlannedLicense {
    /// Index of its item in the request (bundle parents share their children's item).
    pub item: usize,
    /// Whether the product is key-based (else user-based: no key).
    pub key_based: bool,
    /// The caller's key; `None` on a key-based product means "generate one".
    pub key: Option<String>,
    /// The license, with zero ids (its users' too).
    pub license: License,
    /// For a bundle member: the index of its parent in the plan.
    pub parent: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// The order as a new one would be: the body's order-level fields, created at `created`
    /// (else now); its ids, customer and items are filled in when it is written.
    pub order: Order,
    pub append: bool,
    /// The `customer` object, read later against the stored customer of that email.
    pub customer: Option<Map<String, Value>>,
    pub customer_email: Option<String>,
    pub add_to_customer_account: bool,
    /// The product of each item, in request order.
    pub items: Vec<Id>,
    pub licenses: Vec<PlannedLicense>,
}

/// Reads and resolves a `create_order` body. `now` stands for the order's creation time when
/// the body gives no `created`.
pub fn read_order(
    body: &Map<String, Value>,
    catalog: &Catalog,
    principal: &Principal,
    now: OffsetDateTime,
) -> Result<OrderRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let mut input = Input::new(body, &mut errors);
    let store_id = input.required_string("id", SHORT_TEXT).map(|s| s.trim().to_string());
    let created = input.has("created").then(|| input.time("created")).flatten();
    let is_bundle = input.bool("is_bundle").unwrap_or(false);
    let order = Order {
        id: 0,
        store_id: store_id.unwrap_or_default(),
        is_test: input.bool("is_test").unwrap_or(false),
        is_trial: input.bool("is_trial").unwrap_or(false),
        order_type: input.string("order_type", SHORT_TEXT).unwrap_or_else(|| "normal".into()),
        reference: input.string("reference", SHORT_TEXT).unwrap_or_default(),
        language: input.string("language", SHORT_TEXT).unwrap_or_default(),
        campaign_params: input.string("campaign_params", LONG_TEXT).unwrap_or_default(),
        download_id: input.string("download_id", SHORT_TEXT).unwrap_or_default(),
        customer: None,
        customer_account: read_account(&mut input, catalog),
        metadata: input.metadata("metadata").unwrap_or_default(),
        items: Vec::new(),
        committed_attempts: Vec::new(),
        license_count: 0,
        created_at: created.unwrap_or(now),
        updated_at: now,
    };
    let mut request = OrderRequest {
        order,
        append: input.bool("append").unwrap_or(false),
        customer: None,
        customer_email: None,
        add_to_customer_account: input.bool("add_to_customer_account").unwrap_or(true),
        items: Vec::new(),
        licenses: Vec::new(),
    };
    let order_prevent_vm = input.bool("prevent_vm");
    match input.given_object("customer") {
        None => {}
        Some(Value::Object(customer)) => {
            let mut child = input.child(customer, "customer");
            request.customer_email = child.email("email", true);
            request.customer = Some(customer.clone());
        }
        Some(_) => input.error("customer", "Expected an object."),
    }
    let defaults = OrderDefaults { prevent_vm: order_prevent_vm, start: request.order.created_at, now };

    if !input.has("items") {
        input.error("items", crate::input::REQUIRED);
    }
    let items = input.list("items", MAX_ITEMS).cloned().unwrap_or_default();
    let total: usize = items.iter().filter_map(|i| i.get("licenses").and_then(Value::as_array)).map(Vec::len).sum();
    if total > MAX_LICENSES {
        input.error("items", format!("An order may create at most {MAX_LICENSES} licenses."));
    } else {
        for (path, item) in input.objects("items", &items) {
            let mut item_input = input.child(item, &path);
            let Some(product) = read_item_product(&mut item_input, catalog, is_bundle) else { continue };
            if !principal.can_access(product.id) {
                return Err(no_permission(&product.short_code));
            }
            request.items.push(product.id);
            let item_index = request.items.len() - 1;
            let licenses = item_input.list("licenses", MAX_LICENSES).cloned().unwrap_or_default();
            if licenses.is_empty() && !item_input.has("licenses") {
                item_input.error("licenses", crate::input::REQUIRED);
            }
            let planned = if is_bundle {
                read_bundle(&mut item_input, &licenses, product, item_index, catalog, &defaults)
            } else {
                read_licenses(&mut item_input, &licenses, product, item_index, catalog, &defaults)
            };
            // Every license written, a bundle's member licenses included, must be of a product
            // the manager may write into: scope is checked on what is created, not on the item.
            if let Some(outside) = planned.iter().find(|p| !principal.can_access(p.license.product)) {
                let code = catalog.product(outside.license.product).map_or("", |p| p.short_code.as_str());
                return Err(no_permission(code));
            }
            request.licenses.extend(planned);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if request.licenses.is_empty() {
        return Err(ApiError::field("items", "An order needs at least one license."));
    }
    check_duplicate_keys(&request.licenses, catalog)?;
    Ok(request)
}

fn no_permission(short_code: &str) -> ApiError {
    ApiError::PermissionDenied(format!("You do not have permission to create licenses of product \"{short_code}\"."))
}

fn read_account(input: &mut Input, catalog: &Catalog) -> Option<Id> {
    if input.has("customer_account_id") && !input.raw("customer_account_id").is_some_and(Value::is_null) {
        let id = input.id("customer_account_id")?;
        return match catalog.account(id) {
            Some(account) => Some(account.id),
            None => {
                input.error("customer_account_id", format!("Invalid pk \"{id}\" - object does not exist."));
                None
            }
        };
    }
    let code = input.string("customer_account_code", SHORT_TEXT)?;
    match catalog.accounts.iter().find(|a| a.code == code) {
        Some(account) => Some(account.id),
        None => {
            input.error("customer_account_code", format!("Unknown customer account code \"{code}\"."));
            None
        }
    }
}

fn read_item_product<'c>(input: &mut Input, catalog: &'c Catalog, is_bundle: bool) -> Option<&'c Product> {
    let code = input.required_string("product_code", SHORT_TEXT)?;
    let Some(product) = catalog.product_by_code(code.trim()) else {
        input.error("product_code", format!("Unknown product short code \"{code}\"."));
        return None;
    };
    if product.is_bundle != is_bundle {
        let message = if is_bundle {
            "A bundle order names bundle products only."
        } else {
            "A bundle product needs a bundle order (\"is_bundle\": true)."
        };
        input.error("product_code", message);
        return None;
    }
    Some(product)
}

/// What the order contributes to each license's properties.
struct OrderDefaults {
    prevent_vm: Option<bool>,
    /// The order's creation time: where durations start unless a license has `start_date`.
    start: OffsetDateTime,
    now: OffsetDateTime,
}

fn read_licenses(
    input: &mut Input,
    licenses: &[Value],
    product: &Product,
    item: usize,
    catalog: &Catalog,
    defaults: &OrderDefaults,
) -> Vec<PlannedLicense> {
    let mut planned = Vec::with_capacity(licenses.len());
    for (path, license) in input.objects("licenses", licenses) {
        let mut child = input.child(license, &path);
        let template = read_template(&mut child, product, catalog, false);
        if let Some(plan) = read_license(&mut child, product, template, item, catalog, defaults) {
            planned.push(plan);
        }
    }
    planned
}

/// Bundle items: license objects name a member product and its policy; those sharing a key
/// (or first user's email) make one bundle license: a parent on the bundle product and one
/// child per member.
fn read_bundle(
    input: &mut Input,
    licenses: &[Value],
    bundle: &Product,
    item: usize,
    catalog: &Catalog,
    defaults: &OrderDefaults,
) -> Vec<PlannedLicense> {
    let mut groups: BTreeMap<String, Vec<PlannedLicense>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (path, license) in input.objects("licenses", licenses) {
        let mut child = input.child(license, &path);
        let Some(code) = child.required_string("product_code", SHORT_TEXT) else { continue };
        let member = catalog.product_by_code(code.trim()).filter(|p| bundle.bundle_products.contains(&p.id));
        let Some(member) = member else {
            child.error(
                "product_code",
                format!("\"{code}\" is not a member product of bundle \"{}\".", bundle.short_code),
            );
            continue;
        };
        let template = read_template(&mut child, member, catalog, true);
        let Some(plan) = read_license(&mut child, member, template, item, catalog, defaults) else { continue };
        let group = match (&plan.key, plan.license.users.first()) {
            (Some(key), _) => key.clone(),
            (None, Some(user)) => user.email.to_lowercase(),
            (None, None) => {
                child.error("key", "A bundle license groups its members by key (or user email): give one.");
                continue;
            }
        };
        if !groups.contains_key(&group) {
            order.push(group.clone());
        }
        groups.entry(group).or_default().push(plan);
    }
    let mut planned = Vec::new();
    for group in order {
        let members = groups.remove(&group).unwrap_or_default();
        let mut given: Vec<Id> = members.iter().map(|m| m.license.product).collect();
        given.sort_unstable();
        let mut expected = bundle.bundle_products.clone();
        expected.sort_unstable();
        if given != expected {
            input.error(
                "licenses",
                format!("Bundle license \"{group}\" must name every member product of the bundle exactly once."),
            );
            continue;
        }
        let first = &members[0];
        let mut parent = first.license.clone();
        parent.product = bundle.id;
        parent.is_bundle = true;
        parent.license_template = None;
        parent.features = Vec::new();
        parent.custom_fields = custom_field_values(bundle, catalog, &[]);
        let parent_index = planned.len();
        planned.push(PlannedLicense {
            item,
            key_based: first.key_based,
            key: first.key.clone(),
            license: parent,
            parent: None,
        });
        for member in members {
            planned.push(PlannedLicense { parent: Some(parent_index), ..member });
        }
    }
    planned
}

/// `policy_code` (or `license_template_code`): a template of `product`; without one, the
/// product's default template (a bundle member must name one).
fn read_template<'c>(
    input: &mut Input,
    product: &Product,
    catalog: &'c Catalog,
    required: bool,
) -> Option<&'c LicenseTemplate> {
    let (field, code) = ["policy_code", "license_template_code"]
        .into_iter()
        .find_map(|field| input.string(field, SHORT_TEXT).map(|code| (field, code)))
        .unzip();
    let Some(code) = code else {
        if required {
            input.error("policy_code", "A bundle license must name a policy (policy_code) of its product.");
        }
        return catalog.templates.iter().find(|t| t.product == product.id && t.is_default);
    };
    let found = catalog.templates.iter().find(|t| t.product == product.id && t.code == code);
    if found.is_none() {
        input.error(
            field.unwrap_or("policy_code"),
            format!("Unknown policy \"{code}\" for product \"{}\".", product.short_code),
        );
    }
    found
}

fn read_license(
    input: &mut Input,
    product: &Product,
    template: Option<&LicenseTemplate>,
    item: usize,
    catalog: &Catalog,
    defaults: &OrderDefaults,
) -> Option<PlannedLicense> {
    let key_based = product.authorization_method == crate::catalog::products::KEY_BASED;
    let key = input.string("key", SHORT_TEXT).map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    if key.is_some() && !key_based {
        input.error("key", "Licenses of a user-based product have no key.");
    }
    let users = read_users(input, defaults.now);
    if !key_based && users.is_empty() {
        input.error("users", "A license of a user-based product needs at least one user.");
    }
    let explicit = license_props::read(input, LICENSE_PROPERTIES);
    // `None`: the list given was invalid (its errors are reported).
    let grants = if input.has("product_features") {
        read_feature_grants(input, product.id, catalog)
    } else {
        Some(template.map(|t| t.product_features.clone()).unwrap_or_default())
    };
    let custom_values = read_custom_fields(input, product, catalog);

    // Layers, weakest first: product defaults, template, order-level values, the license's own.
    let mut props = Props::new();
    if let Some(n) = product.max_activations {
        props.insert("max_activations".into(), n.into());
    }
    props.insert("max_consumptions".into(), product.max_consumptions.into());
    props.insert("trial_days".into(), product.trial_days.into());
    if let Some(t) = template {
        props.extend(t.properties.clone());
    }
    if let Some(prevent_vm) = defaults.prevent_vm {
        props.insert("prevent_vm".into(), prevent_vm.into());
    }
    props.extend(explicit.into_iter().filter(|(_, v)| !v.is_null()));

    let license_type = text_of(&props, "license_type").unwrap_or_else(|| "perpetual".into());
    let start = text_of(&props, "start_date").and_then(|d| crate::timefmt::parse_time(&d)).unwrap_or(defaults.start);
    let valid_duration = text_of(&props, "valid_duration");
    let mut validity_period = text_of(&props, "validity_period");
    if license_type == "time-limited" && valid_duration.is_none() && validity_period.is_none() {
        input.error("valid_duration", "A time-limited license needs valid_duration or validity_period.");
    }
    if validity_period.is_none() && license_type == "time-limited" {
        validity_period = valid_duration.as_deref().and_then(|d| end_of(d, start));
    }
    let enable_maintenance = bool_of(&props, "enable_maintenance_period", false);
    let maintenance_duration = text_of(&props, "maintenance_duration");
    let mut maintenance_period = text_of(&props, "maintenance_period");
    if enable_maintenance && maintenance_period.is_none() {
        maintenance_period = maintenance_duration.as_deref().and_then(|d| end_of(d, start));
    }

    let features = grants?.iter().filter_map(|grant| license_feature(grant, catalog)).collect();
    let custom_fields = custom_field_values(product, catalog, &custom_values?);
    let metadata = props.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    let now = defaults.now;
    let license = License {
        id: 0,
        order: 0,
        order_item: 0,
        order_store_id: String::new(),
        product: product.id,
        customer: None,
        license_template: template.map(|t| t.id),
        bundle_parent: None,
        license_key: None,
        active: false,
        enabled: true,
        time_activated: None,
        time_disabled: None,
        max_activations: int_of(&props, "max_activations").unwrap_or(1),
        allow_unlimited_activations: bool_of(&props, "allow_unlimited_activations", false),
        times_activated: 0,
        valid_duration,
        validity_period,
        start_date: text_of(&props, "start_date"),
        license_type,
        enable_maintenance_period: enable_maintenance,
        maintenance_duration,
        maintenance_period,
        is_trial: bool_of(&props, "is_trial", false),
        max_consumptions: int_of(&props, "max_consumptions").unwrap_or(0),
        total_consumptions: 0,
        subscription_id: text_of(&props, "subscription_id"),
        last_check: None,
        prevent_vm: bool_of(&props, "prevent_vm", false),
        allow_overages: bool_of(&props, "allow_overages", false),
        max_overages: int_of(&props, "max_overages").unwrap_or(0),
        reset_consumption: bool_of(&props, "reset_consumption", false),
        consumption_period: text_of(&props, "consumption_period"),
        trial_days: int_of(&props, "trial_days").unwrap_or(0),
        is_floating: bool_of(&props, "is_floating", false),
        is_floating_cloud: bool_of(&props, "is_floating_cloud", false),
        floating_users: int_of(&props, "floating_users").unwrap_or(0),
        note: text_of(&props, "note"),
        max_license_users: int_of(&props, "max_license_users").unwrap_or(0),
        transfer_count: 0,
        floating_timeout: int_of(&props, "floating_timeout"),
        max_transfers: int_of(&props, "max_transfers").unwrap_or(0),
        is_air_gapped: bool_of(&props, "is_air_gapped", false),
        can_borrow: bool_of(&props, "can_borrow", false),
        max_borrow_time: int_of(&props, "max_borrow_time").unwrap_or(0),
        is_bundle: false,
        metadata,
        features,
        custom_fields,
        users,
        devices: Vec::new(),
        blacklisted_devices: Vec::new(),
        released_seats: 0,
        attempt: None,
        created_at: now,
        updated_at: now,
    };
    Some(PlannedLicense { item, key_based, key: key.filter(|_| key_based), license, parent: None })
}

/// The date `duration` after `start` (the contract's `validity_period` is a date).
fn end_of(duration: &str, start: OffsetDateTime) -> Option<String> {
    let duration: LicenseDuration = duration.parse().ok()?;
    duration.after(start).map(|end| format_date(end.date()))
}

/// `users` (a list, or one object read as a list of one) or `user` (one object), as the
/// vendor's clients send either; `{}` for either is "not given" (API.md §1).
fn read_users(input: &mut Input, now: OffsetDateTime) -> Vec<LicenseUser> {
    let (field, objects): (&str, Vec<Value>) = match (input.given_object("users"), input.given_object("user")) {
        (Some(Value::Array(_)), _) => {
            ("users", input.list("users", users::MAX_LICENSE_USERS).cloned().unwrap_or_default())
        }
        (Some(one @ Value::Object(_)), _) => ("user", vec![one.clone()]),
        (None, Some(one @ Value::Object(_))) => ("user", vec![one.clone()]),
        (None, None) => return Vec::new(),
        (Some(_), _) => {
            input.error("users", "Expected a list of users.");
            return Vec::new();
        }
        (_, Some(_)) => {
            input.error("user", "Expected a user object.");
            return Vec::new();
        }
    };
    let mut users = Vec::with_capacity(objects.len());
    let mut seen = HashSet::new();
    for (i, object) in objects.iter().enumerate() {
        let path = if field == "user" { "user".to_string() } else { format!("users.{i}") };
        let Some(object) = object.as_object() else {
            input.error(&path, "Expected a user object.");
            continue;
        };
        let mut child = input.child(object, &path);
        let Some(email) = child.email("email", true) else { continue };
        if !seen.insert(email.to_lowercase()) {
            child.error("email", "Listed twice.");
            continue;
        }
        users.push(users::read_entry(&mut child, email, now));
    }
    users
}

/// `custom_fields: [{"name", "value"}]` by the product's field names. `None` on errors.
fn read_custom_fields(input: &mut Input, product: &Product, catalog: &Catalog) -> Option<Vec<(Id, String)>> {
    let Some(entries) = input.list("custom_fields", 1_000).cloned() else {
        return Some(Vec::new());
    };
    let mut values = Vec::new();
    let objects = input.objects("custom_fields", &entries);
    let mut valid = objects.len() == entries.len();
    for (path, entry) in objects {
        let mut child = input.child(entry, &path);
        let Some(name) = child.required_string("name", SHORT_TEXT) else {
            valid = false;
            continue;
        };
        let value = custom_field_values::read_value_text(&mut child, "value");
        match catalog.custom_fields.iter().find(|f| f.product == product.id && f.name == name) {
            Some(field) => values.push((field.id, value)),
            None => {
                child.error("name", format!("Unknown custom field \"{name}\" for product \"{}\".", product.short_code));
                valid = false;
            }
        }
    }
    valid.then_some(values)
}

/// Every custom field of the product: the value given, else the field's default. Ids are
/// assigned when the order is written.
fn custom_field_values(product: &Product, catalog: &Catalog, given: &[(Id, String)]) -> Vec<CustomFieldValue> {
    catalog
        .custom_fields
        .iter()
        .filter(|f| f.product == product.id)
        .map(|f| {
            let value =
                given.iter().find(|(id, _)| *id == f.id).map_or_else(|| f.default_value.clone(), |(_, v)| v.clone());
            CustomFieldValue { id: 0, field: f.id, value }
        })
        .collect()
}

/// A product feature on a license: the feature's values, then the grant's overrides.
fn license_feature(grant: &FeatureGrant, catalog: &Catalog) -> Option<LicenseFeature> {
    let feature = catalog.features.iter().find(|f| f.id == grant.feature)?;
    let mut granted = LicenseFeature::new(0, feature);
    granted.apply(&grant.overrides);
    Some(granted)
}

/// One key may appear once per product in an order (bundle members share their parent's key
/// across different products).
fn check_duplicate_keys(licenses: &[PlannedLicense], catalog: &Catalog) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for plan in licenses {
        if let Some(key) = &plan.key {
            if !seen.insert((plan.license.product, key.as_str())) {
                let code = catalog.product(plan.license.product).map_or("", |p| p.short_code.as_str());
                return Err(ApiError::Conflict(format!(
                    "License key \"{key}\" is given twice for product \"{code}\"."
                )));
            }
        }
    }
    Ok(())
}
