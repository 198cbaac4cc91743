//! The single-table design, written once. Every key the API reads or writes is built here.
//!
//! | item              | PK                                   | SK            | GSI1PK / GSI1SK            |
//! |-------------------|--------------------------------------|---------------|----------------------------|
//! | company           | `T#<company>`                        | `COMPANY`     |                            |
//! | catalog item      | `T#<company>`                        | `<KIND>#<id>` |                            |
//! | customer          | `T#<company>#CUSTOMER#<id>`          | `CUSTOMER`    | `T#<company>#CUSTOMERS` / `<id>` |
//! | uniqueness marker | `T#<company>#UQ#<kind>#<scope>#<v>`  | `UQ`          |                            |
//! | … of a custom field value | `T#<company>#UQ#CUSTOM_FIELD_VALUE#-#<value>` | `UQ` | `T#<company>#CFVALUES` / `<value>`; GSI2 `T#<company>#CFVALUES#<field>` / `<value>` |
//! | … of a device     | `T#<company>#UQ#DEVICE#-#<id>`       | `UQ`          | `T#<company>#DEVICES` / `<id>`; GSI2 `…#DEVICES#<product>`, GSI3 `…#DEVHW#<hardware_id>`, GSI4 `…#DEVHOST#<hostname>` / `<id>` |
//! | import job        | `T#<company>#IMPORT#<id>`            | `IMPORT`      | `T#<company>#IMPORTS` / `<id>` |
//! | … its invalid rows| `T#<company>#IMPORT#<id>`            | `INVALID#<row>` |                          |
//! | … counted marker  | `T#<company>#IMPORT#<id>`            | `SEEN#<KIND>#<id>` |                       |
//! | user's license    | `T#<company>#UL#<user>`              | `<license>`   |                            |
//! | license user      | `T#<company>#LICENSE_USER#<id>`      | `LICENSE_USER` | `T#<company>#LICENSE_USERS` / `<id>` |
//! | activation entry  | `T#<company>#ACTIVATION#<id>`        | `ACTIVATION`  | `T#<company>#LA#<license>` / `<id>`; GSI2 `T#<company>#ACTIVATIONS` / `<id>` |
//! | history entry     | `T#<company>#HISTORY#<id>`           | `HISTORY`     | `T#<company>#LH#<license>` / `<id>`; GSI2 `T#<company>#HISTORIES` / `<id>` |
//! | license counters  | `T#<company>#COUNTS`                 | `LICENSES#<shard>`, `PRODUCT#<id>#<shard>`, `MONTH#<yyyy-mm>#<shard>` | |
//! | value counters    | `T#<company>#COUNTS`                 | `CFVALUES#<shard>`, `CFFIELD#<field>#<shard>` | |
//! | device counters   | `T#<company>#COUNTS`                 | `DEVICES#ALL#<shard>`, `DEVICES#<product>#<shard>` | |
//! | API key           | `APIKEY#<prefix>`                    | `APIKEY`      |                            |
//! | License API key   | `LICENSEAPIKEY#<api_key>`            | `LICENSEAPIKEY` |                          |
//! | staged write      | `T#<company>#ATTEMPT#<id>`           | `ATTEMPT`     | `STAGED_ATTEMPTS` / `<deadline>#<company>#<id>` |
//! | id node counter   | `IDGEN`                              | `NODE`        |                            |
//! | id node lease     | `IDGEN#NODE#<node>`                  | `LEASE`       |                            |
//!
//! Catalog kinds (products, features, custom fields, templates, customer accounts, labels) share
//! the company's partition: they are few, read together (one Query loads a company's whole
//! catalog, strongly consistent) and change rarely. Customers, and the orders, licenses and
//! import jobs of the later issues, get a partition each so that a tenant can grow without
//! bound; they are listed through the overloaded GSIs. The table's full plan, including the
//! items to come, is in the README.
//!
//! Ids are zero-padded to 16 digits (ids are < 2^53 < 10^16) so that text order is id order,
//! which is creation order. Every key starts with the tenant, and the only way to a key is
//! through a company id that authentication produced: isolation does not rely on filtering.

use crate::ids::Id;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// The overloaded global secondary indexes the table defines (see infra/template.yaml):
/// `GSI1` … `GSI6`, keyed by `GSI<n>PK` / `GSI<n>SK`, projecting every attribute.
pub const GSI_COUNT: u8 = 6;

pub fn gsi_name(index: u8) -> String {
    format!("GSI{index}")
}

pub fn gsi_pk(index: u8) -> String {
    format!("GSI{index}PK")
}

pub fn gsi_sk(index: u8) -> String {
    format!("GSI{index}SK")
}
/// Epoch-seconds attribute DynamoDB's TTL deletes items by.
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub fn padded(id: Id) -> String {
    format!("{id:016}")
}

pub fn tenant_pk(company: Id) -> String {
    format!("T#{company}")
}

/// The company a tenant key (`T#<company>…`) belongs to.
pub fn company_of(pk: &str) -> Option<Id> {
    pk.strip_prefix("T#")?.split('#').next()?.parse().ok()
}

pub const COMPANY_SK: &str = "COMPANY";
/// The company item's counter of catalog writes (cached catalogs compare it).
pub const CATALOG_VERSION: &str = "catalog_version";

/// Sort key of a catalog item in its company's partition.
pub fn catalog_sk(kind: &str, id: Id) -> String {
    format!("{kind}#{}", padded(id))
}

/// The kind a catalog sort key names.
pub fn catalog_kind(sk: &str) -> Option<&str> {
    sk.split_once('#').map(|(kind, _)| kind)
}

pub fn customer_pk(company: Id, id: Id) -> String {
    format!("T#{company}#CUSTOMER#{}", padded(id))
}

pub const CUSTOMER_SK: &str = "CUSTOMER";

pub fn customers_gsi1pk(company: Id) -> String {
    format!("T#{company}#CUSTOMERS")
}

pub fn license_pk(company: Id, id: Id) -> String {
    format!("T#{company}#LICENSE#{}", padded(id))
}

pub const LICENSE_SK: &str = "LICENSE";

/// The GSI each license access path uses; every entry's sort key is the padded license id.
pub const LICENSES_BY_PRODUCT: u8 = 1;
pub const LICENSES_BY_CUSTOMER: u8 = 2;
pub const LICENSES_BY_ORDER: u8 = 3;
pub const LICENSES_BY_KEY: u8 = 4;
pub const LICENSES_BY_MONTH: u8 = 5;
pub const LICENSES_BY_VALIDITY: u8 = 6;

pub fn licenses_by_product(company: Id, product: Id) -> String {
    format!("T#{company}#LP#{}", padded(product))
}

pub fn licenses_by_customer(company: Id, customer: Id) -> String {
    format!("T#{company}#LC#{}", padded(customer))
}

pub fn licenses_by_order(company: Id, order: Id) -> String {
    format!("T#{company}#LO#{}", padded(order))
}

pub fn licenses_by_key(company: Id, key: &str) -> String {
    format!("T#{company}#LK#{key}")
}

/// Creation month shards the tenant-wide, time-ordered listing, so no single index
/// partition takes every license write of a large tenant.
pub fn licenses_by_month(company: Id, created: time::OffsetDateTime) -> String {
    format!("T#{company}#LM#{:04}-{:02}", created.year(), created.month() as u8)
}

/// A product's licenses sorted by validity (GSI6): `order_by=validity_period` pages from it.
pub fn licenses_by_validity(company: Id, product: Id) -> String {
    format!("T#{company}#LV#{}", padded(product))
}

/// A license's GSI6 sort key: its validity date (`YYYY-MM-DD`), `!` when it has none (nulls
/// sort first ascending, as every ordering does), then its id, so ties go by id.
pub fn license_validity_sk(validity_period: Option<&str>, id: Id) -> String {
    match validity_period.and_then(crate::timefmt::parse_date) {
        Some(date) => format!("{:04}-{:02}-{:02}#{}", date.year(), date.month() as u8, date.day(), padded(id)),
        None => format!("!#{}", padded(id)),
    }
}

pub fn order_pk(company: Id, id: Id) -> String {
    format!("T#{company}#ORDER#{}", padded(id))
}

pub const ORDER_SK: &str = "ORDER";

/// GSI1 lists a company's orders; GSI2 a customer's.
pub fn orders_gsi1pk(company: Id) -> String {
    format!("T#{company}#ORDERS")
}

pub fn customer_orders_gsi2pk(company: Id, customer: Id) -> String {
    format!("T#{company}#CO#{}", padded(customer))
}

/// Import jobs get a partition each: the job item, the pages of invalid rows it found, and a
/// marker per customer and order it has counted (so a resumed job never counts one twice).
/// GSI1 lists a company's jobs.
pub fn import_pk(company: Id, id: Id) -> String {
    format!("T#{company}#IMPORT#{}", padded(id))
}

pub const IMPORT_SK: &str = "IMPORT";

pub fn imports_gsi1pk(company: Id) -> String {
    format!("T#{company}#IMPORTS")
}

pub const IMPORT_INVALID_PREFIX: &str = "INVALID#";

/// A page of invalid rows, by the number of the first data row of its batch.
pub fn import_invalid_sk(first_row: u64) -> String {
    format!("{IMPORT_INVALID_PREFIX}{first_row:012}")
}

/// Marks that a job has counted this customer or order (`kind` is the entity's KIND).
pub fn import_seen_sk(kind: &str, id: Id) -> String {
    format!("SEEN#{kind}#{}", padded(id))
}

/// Objects under this prefix of the import bucket are imports: `imports/<company>/<job>/<file>`.
pub const IMPORT_PREFIX: &str = "imports/";

pub fn import_object_key(company: Id, job: Id, file_name: &str) -> String {
    format!("{IMPORT_PREFIX}{company}/{job}/{file_name}")
}

/// Where the UTF-8 conversion of a UTF-16 import file is written: beside it, in its job's folder.
pub fn import_converted_object_key(original: &str) -> String {
    match original.rsplit_once('/') {
        Some((folder, name)) => format!("{folder}/utf8-{name}"),
        None => format!("utf8-{original}"),
    }
}

/// The company and job an import object belongs to.
pub fn import_object_owner(key: &str) -> Option<(Id, Id)> {
    let mut parts = key.strip_prefix(IMPORT_PREFIX)?.splitn(3, '/');
    let company = parts.next()?.parse().ok()?;
    let job = parts.next()?.parse().ok()?;
    parts.next().filter(|name| !name.is_empty())?;
    Some((company, job))
}

/// A staged write of a large order (see `orders::staging`): its record, listed by deadline in
/// one GSI1 partition across all companies, so that the sweeper finds the overdue ones with
/// one Query. Few exist at a time (one per order of more than ~45 licenses being written).
pub fn staged_attempt_pk(company: Id, attempt: Id) -> String {
    format!("T#{company}#ATTEMPT#{}", padded(attempt))
}

pub const STAGED_ATTEMPT_SK: &str = "ATTEMPT";
pub const STAGED_ATTEMPTS_GSI1PK: &str = "STAGED_ATTEMPTS";

/// GSI1 sort key of a staged write: its deadline first (zero-padded epoch milliseconds).
pub fn staged_attempt_gsi1sk(deadline_ms: i64, company: Id, attempt: Id) -> String {
    format!("{}#{company}#{}", deadline_sort_key(deadline_ms), padded(attempt))
}

/// Sorts as the deadline: every staged write due before `deadline_ms` has a smaller GSI1SK.
pub fn deadline_sort_key(deadline_ms: i64) -> String {
    format!("{:015}", deadline_ms.max(0))
}

/// A license user of the company (its password; one per email), listed by GSI1.
pub fn license_user_pk(company: Id, id: Id) -> String {
    format!("T#{company}#LICENSE_USER#{}", padded(id))
}

pub const LICENSE_USER_SK: &str = "LICENSE_USER";

pub fn license_users_gsi1pk(company: Id) -> String {
    format!("T#{company}#LICENSE_USERS")
}

/// The licenses a license user is on: one item per license in the user's partition (a
/// user-based activation finds its license by them: LICENSE-API.md §0).
pub fn user_licenses_pk(company: Id, user: Id) -> String {
    format!("T#{company}#UL#{}", padded(user))
}

/// The custom field values of a company's licenses, listed through the markers that make
/// their ids findable (see `licenses::custom_field_values`): all of them (GSI1), or one
/// field's (GSI2).
pub fn custom_field_values_gsi1pk(company: Id) -> String {
    format!("T#{company}#CFVALUES")
}

pub fn custom_field_values_gsi2pk(company: Id, field: Id) -> String {
    format!("T#{company}#CFVALUES#{}", padded(field))
}

/// The shards of the counter of a company's custom field values, and of one field's.
pub const CUSTOM_FIELD_VALUES_COUNTER_PREFIX: &str = "CFVALUES#";

pub fn custom_field_counter_prefix(field: Id) -> String {
    format!("CFFIELD#{}#", padded(field))
}

/// A company's devices (their markers' GSI1), those of one product (GSI2), of one hardware id
/// (GSI3) and of one hostname (GSI4): `/devices/` lists and filters them a page at a time.
pub fn devices_gsi1pk(company: Id) -> String {
    format!("T#{company}#DEVICES")
}

pub fn devices_of_product(company: Id, product: Id) -> String {
    format!("T#{company}#DEVICES#{}", padded(product))
}

pub fn devices_by_hardware_id(company: Id, hardware_id: &str) -> String {
    format!("T#{company}#DEVHW#{hardware_id}")
}

pub fn devices_by_hostname(company: Id, hostname: &str) -> String {
    format!("T#{company}#DEVHOST#{hostname}")
}

/// The shards of the counter of a company's devices, and of one product's.
pub const DEVICES_COUNTER_PREFIX: &str = "DEVICES#ALL#";

pub fn devices_counter_prefix(product: Id) -> String {
    format!("DEVICES#{}#", padded(product))
}

/// A company's license counter, in shards (a write adds to one at random, a read sums them),
/// so that concurrent writers seldom meet on one item. Not in the company partition: license
/// writes must not move the catalog version.
pub fn counters_pk(company: Id) -> String {
    format!("T#{company}#COUNTS")
}

pub const LICENSE_COUNTER_PREFIX: &str = "LICENSES#";
pub const LICENSE_COUNTER_SHARDS: u64 = 16;
pub const MONTH_COUNTER_PREFIX: &str = "MONTH#";

/// The shards of one product's license counter, beside the company's.
pub fn product_counter_prefix(product: Id) -> String {
    format!("PRODUCT#{}#", padded(product))
}

/// The shards of one creation month's license counter.
pub fn month_counter_prefix(year: i32, month: u8) -> String {
    format!("{MONTH_COUNTER_PREFIX}{year:04}-{month:02}#")
}

/// The product a product counter's sort key names.
pub fn counter_product(sk: &str) -> Option<Id> {
    sk.strip_prefix("PRODUCT#")?.split_once('#')?.0.parse().ok()
}

/// The month a month counter's sort key names.
pub fn counter_month(sk: &str) -> Option<(i32, u8)> {
    let (year, rest) = sk.strip_prefix(MONTH_COUNTER_PREFIX)?.split_once('-')?;
    let (month, _) = rest.split_once('#')?;
    Some((year.parse().ok()?, month.parse().ok()?))
}

/// The shards of the company's counter of one kind of entity (`ORDER`, `CUSTOMER`, …).
pub fn entity_counter_prefix(kind: &str) -> String {
    format!("{kind}S#")
}

pub fn counter_sk(prefix: &str, shard: u64) -> String {
    format!("{prefix}{shard:02}")
}

/// A license history entry (API.md §8.4): an item of its own, listed by license (GSI1) and
/// across the company (GSI2), both by id (newest first when read backwards).
pub fn license_history_pk(company: Id, id: Id) -> String {
    format!("T#{company}#HISTORY#{}", padded(id))
}

pub const LICENSE_HISTORY_SK: &str = "HISTORY";

/// A License API activation, check or deactivation of a license (LICENSE-API.md §0), listed
/// per license by GSI1.
pub fn license_activation_pk(company: Id, id: Id) -> String {
    format!("T#{company}#ACTIVATION#{}", padded(id))
}

pub const LICENSE_ACTIVATION_SK: &str = "ACTIVATION";

pub fn license_activations_gsi1pk(company: Id, license: Id) -> String {
    format!("T#{company}#LA#{}", padded(license))
}

pub fn activations_gsi2pk(company: Id) -> String {
    format!("T#{company}#ACTIVATIONS")
}

pub fn license_history_gsi1pk(company: Id, license: Id) -> String {
    format!("T#{company}#LH#{}", padded(license))
}

pub fn histories_gsi2pk(company: Id) -> String {
    format!("T#{company}#HISTORIES")
}

/// A uniqueness marker: at most one item may hold `value` for `kind` within `scope`.
pub fn unique_pk(company: Id, kind: &str, scope: &str, value: &str) -> String {
    format!("T#{company}#UQ#{kind}#{scope}#{value}")
}

pub const UNIQUE_SK: &str = "UQ";

pub fn api_key_pk(prefix: &str) -> String {
    format!("APIKEY#{prefix}")
}

pub const API_KEY_SK: &str = "APIKEY";

/// A company's License API credentials (LICENSE-API.md §0), by their public `api_key`.
pub fn license_api_key_pk(api_key: &str) -> String {
    format!("LICENSEAPIKEY#{api_key}")
}

pub const LICENSE_API_KEY_SK: &str = "LICENSEAPIKEY";

/// The counter that spreads the nodes new containers try first.
pub const ID_NODE_PK: &str = "IDGEN";
pub const ID_NODE_SK: &str = "NODE";

/// The lease on one id node number (owner, `until_ms`).
pub fn id_node_lease_pk(node: u64) -> String {
    format!("IDGEN#NODE#{node:04}")
}

pub const ID_NODE_LEASE_SK: &str = "LEASE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_ids_sort_as_numbers() {
        let mut ids = [9_007_199_254_740_991u64, 42, 1_593_781_720_493_289, 7];
        let mut as_text: Vec<String> = ids.iter().map(|id| catalog_sk("PRODUCT", *id)).collect();
        ids.sort();
        as_text.sort();
        assert_eq!(as_text, ids.iter().map(|id| catalog_sk("PRODUCT", *id)).collect::<Vec<_>>());
        assert_eq!(catalog_kind(&as_text[0]), Some("PRODUCT"));
    }

    #[test]
    fn every_tenant_key_starts_with_the_tenant() {
        let t = tenant_pk(5);
        for key in [customer_pk(5, 1), customers_gsi1pk(5), unique_pk(5, "EMAIL", "-", "a@b.c")] {
            assert!(key.starts_with(&format!("{t}#")), "{key}");
        }
        assert_ne!(tenant_pk(5), tenant_pk(55));
        assert!(!customer_pk(55, 1).starts_with(&format!("{t}#")));
    }

    #[test]
    fn import_objects_name_their_company_and_job() {
        let key = import_object_key(12, 345, "licenses 2026.csv");
        assert_eq!(key, "imports/12/345/licenses 2026.csv");
        assert_eq!(import_object_owner(&key), Some((12, 345)));
        for bad in ["imports/12/345/", "imports/12/x/f.csv", "other/12/345/f.csv", "imports/12"] {
            assert_eq!(import_object_owner(bad), None, "{bad}");
        }
    }

    #[test]
    fn counter_keys_name_their_product_or_month() {
        let product = counter_sk(&product_counter_prefix(42), 7);
        assert_eq!(product, "PRODUCT#0000000000000042#07");
        assert_eq!(counter_product(&product), Some(42));
        assert_eq!(counter_month(&product), None);
        let month = counter_sk(&month_counter_prefix(2026, 3), 15);
        assert_eq!(counter_month(&month), Some((2026, 3)));
        assert_eq!(counter_product(&month), None);
        assert_eq!(counter_month(&counter_sk(LICENSE_COUNTER_PREFIX, 0)), None);
    }
}
