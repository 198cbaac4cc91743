//! License users of a company (API.md §4, §8.2): one per email, shared by every license that
//! lists that email. The company user holds the person: email, name, phone, password, and its
//! own `is_manager` and `max_activations` (what `/license-users/` shows without a license).
//! A license holds each of its users' values on that license (`LicenseUser`: `is_manager`,
//! `max_activations`, `total_activations`, and the email filters read), and renders the person
//! from the company user, so a name or a password changed once shows on every license.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::LicenseUser;
use crate::ids::{Id, IdGenerator};
use crate::input::{Input, SHORT_TEXT};
use crate::passwords;
use crate::store::{keys, Entity, IndexKey, StoreError, TenantStore, UniqueKey, WriteCost};
use crate::timefmt::{format_time, rfc3339};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyUser {
    pub id: Id,
    /// As first given; unique within the company case-insensitively.
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub is_manager: bool,
    #[serde(default = "one")]
    pub max_activations: i64,
    /// The stored form of the password (`passwords`); `None` until one is set or generated.
    pub password_hash: Option<String>,
    /// The generated password, shown while it is the user's password.
    pub initial_password: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn one() -> i64 {
    1
}

impl Entity for CompanyUser {
    const KIND: &'static str = "LICENSE_USER";
    const NAME: &'static str = "license user";
    const COUNTED: bool = true;

    fn id(&self) -> Id {
        self.id
    }

    fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn unique_keys(&self) -> Vec<UniqueKey> {
        vec![CompanyUser::email_claim(&self.email)]
    }

    fn primary_key(company: Id, id: Id) -> (String, String) {
        (keys::license_user_pk(company, id), keys::LICENSE_USER_SK.into())
    }

    fn index_keys(&self, company: Id) -> Vec<IndexKey> {
        vec![IndexKey { index: 1, pk: keys::license_users_gsi1pk(company), sk: keys::padded(self.id) }]
    }
}

impl CompanyUser {
    pub fn email_claim(email: &str) -> UniqueKey {
        UniqueKey { kind: "LICENSE_USER_EMAIL", scope: "-".into(), value: email.to_lowercase(), field: "email" }
    }

    /// A user new to the company, as `given` for a license: its password as given (hashed), else
    /// a generated initial one.
    pub fn new(id: Id, given: &LicenseUser, now: OffsetDateTime) -> Self {
        let (password_hash, initial_password) = match given.password.as_deref() {
            Some(chosen) => (passwords::hash_chosen(chosen), None),
            None => {
                let generated = passwords::new_initial_password();
                (passwords::hash_generated(&generated), Some(generated))
            }
        };
        CompanyUser {
            id,
            email: given.email.clone(),
            first_name: given.first_name.clone(),
            last_name: given.last_name.clone(),
            phone_number: given.phone_number.clone(),
            is_manager: given.is_manager,
            max_activations: given.max_activations,
            password_hash: Some(password_hash),
            initial_password,
            created_at: now,
            updated_at: now,
        }
    }

    /// Sets a password the user chose (API.md §8.2): it is no longer an initial one.
    pub fn set_password(&mut self, password: &str) {
        self.password_hash = Some(passwords::hash_chosen(password));
        self.initial_password = None;
    }
}

/// Most users one license holds (and one order's license lists): a bound on the item's size.
pub const MAX_LICENSE_USERS: usize = 100;

/// The company's license user of `email` (any case), if any: its claim, then its item.
pub async fn by_email(store: TenantStore<'_>, email: &str) -> Result<Option<CompanyUser>, StoreError> {
    let claim = CompanyUser::email_claim(email);
    match store.unique_owner(claim.kind, &claim.scope, &claim.value).await? {
        Some(id) => store.get::<CompanyUser>(id).await,
        None => Ok(None),
    }
}

/// A license user as a body gives it (API.md §4 `users`, §8.2 `assign_user`), its `email`
/// already read: the person, its values on the license, and the password for a user new to
/// the company. Its id is the company user's, set once that is known.
pub fn read_entry(input: &mut Input, email: String, now: OffsetDateTime) -> LicenseUser {
    LicenseUser {
        id: 0,
        email,
        first_name: input.string("first_name", SHORT_TEXT).unwrap_or_default(),
        last_name: input.string("last_name", SHORT_TEXT).unwrap_or_default(),
        phone_number: input.string("phone_number", SHORT_TEXT).unwrap_or_default(),
        is_manager: input.bool("is_manager").unwrap_or(false),
        max_activations: input.int("max_activations", 0, i32::MAX.into()).unwrap_or(1),
        total_activations: input.int("total_activations", 0, i32::MAX.into()).unwrap_or(0),
        password: input.string("password", SHORT_TEXT).filter(|p| !p.is_empty()),
        created_at: now,
        updated_at: now,
    }
}

/// The company's license users for `wanted` (lowercase email → the user as a license or order
/// gave it, with the password given if any), keyed by lowercase email: those that exist as they
/// are (an existing user keeps its name and password), the others created. Users are company-level, as the vendor's are: one created
/// for an order that then fails stays, without licenses. A race with another request creating
/// the same email is read again.
pub async fn ensure(
    store: TenantStore<'_>,
    ids: &IdGenerator,
    wanted: &HashMap<String, LicenseUser>,
    now: OffsetDateTime,
) -> Result<HashMap<String, CompanyUser>, StoreError> {
    let mut found: HashMap<String, CompanyUser> = HashMap::new();
    for _ in 0..3 {
        let missing: Vec<String> = wanted.keys().filter(|e| !found.contains_key(*e)).cloned().collect();
        if missing.is_empty() {
            break;
        }
        let claim = CompanyUser::email_claim("");
        let owners = store.unique_owners(claim.kind, &claim.scope, &missing).await?;
        let owner_ids: Vec<Id> = owners.values().copied().collect();
        for user in store.get_many::<CompanyUser>(&owner_ids).await? {
            found.insert(user.email.to_lowercase(), user);
        }
        let new: Vec<CompanyUser> = missing
            .iter()
            .filter(|e| !found.contains_key(*e))
            .map(|email| CompanyUser::new(ids.next_id(), &wanted[email], now))
            .collect();
        let mut tx = store.transaction();
        let mut batch: Vec<CompanyUser> = Vec::new();
        for user in new {
            if !tx.has_room(store.create_cost(&user)?, WriteCost::default()) {
                let full = std::mem::replace(&mut tx, store.transaction());
                commit(full, std::mem::take(&mut batch), &mut found).await?;
            }
            tx.create_after_lookup(&user)?;
            batch.push(user);
        }
        commit(tx, batch, &mut found).await?;
    }
    Ok(found)
}

/// Commits the creation of `users`, which are then found; if another request claimed one of
/// the emails meanwhile, none of them is, and the next round reads them.
async fn commit(
    tx: crate::store::Transaction<'_>,
    users: Vec<CompanyUser>,
    found: &mut HashMap<String, CompanyUser>,
) -> Result<(), StoreError> {
    match tx.commit().await {
        Ok(()) => {
            found.extend(users.into_iter().map(|u| (u.email.to_lowercase(), u)));
            Ok(())
        }
        Err(StoreError::Stale(_)) => Ok(()),
        Err(err) => Err(err),
    }
}

/// A license user in seed 002's shape: the person from the company user (`user`, when read),
/// the values on the license from `entry`. `initial_password` shows the generated password
/// while the user has not set one (`is_initial_password`), else `""`.
pub fn render_entry(entry: &LicenseUser, user: Option<&CompanyUser>) -> Value {
    let mut json = match user {
        Some(user) => render(user),
        None => render(&CompanyUser {
            id: entry.id,
            email: entry.email.clone(),
            first_name: entry.first_name.clone(),
            last_name: entry.last_name.clone(),
            phone_number: entry.phone_number.clone(),
            is_manager: entry.is_manager,
            max_activations: entry.max_activations,
            password_hash: None,
            initial_password: None,
            created_at: entry.created_at,
            updated_at: entry.updated_at,
        }),
    };
    json["is_manager"] = entry.is_manager.into();
    json["max_activations"] = entry.max_activations.into();
    json["total_activations"] = entry.total_activations.into();
    json
}

/// A company user as `/license-users/` shows it without a license: its own `is_manager` and
/// `max_activations`, and no activations.
pub fn render(user: &CompanyUser) -> Value {
    json!({
        "id": user.id,
        "last_login": null,
        "email": user.email,
        "true_email": user.email,
        "created_at": format_time(user.created_at),
        "updated_at": format_time(user.updated_at),
        "is_admin": {},
        "is_active": true,
        "is_staff": false,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone_number": user.phone_number,
        "subscribed_to_email": false,
        "acquired_consent": null,
        "is_manager": user.is_manager,
        "initial_password": user.initial_password.as_deref().unwrap_or_default(),
        "is_initial_password": user.initial_password.is_some(),
        "max_activations": user.max_activations,
        "total_activations": 0,
    })
}
