//! License users of a company (API.md §4, §8.2): one per email, shared by every license that
//! lists that email, holding the user's password. A license keeps a copy of each of its users
//! (name, manager flag, activations) and, while the user has not set a password, the initial
//! password the vendor shows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{Id, IdGenerator};
use crate::passwords;
use crate::store::{keys, Entity, IndexKey, StoreError, TenantStore, UniqueKey, WriteCost};
use crate::timefmt::rfc3339;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyUser {
    pub id: Id,
    /// As first given; unique within the company case-insensitively.
    pub email: String,
    /// The stored form of the password (`passwords`); `None` until one is set or generated.
    pub password_hash: Option<String>,
    /// The generated password, shown while it is the user's password.
    pub initial_password: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Entity for CompanyUser {
    const KIND: &'static str = "LICENSE_USER";
    const NAME: &'static str = "license user";

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

    /// A user new to the company: `password` as given (hashed), else a generated initial one.
    pub fn new(id: Id, email: &str, password: Option<&str>, now: OffsetDateTime) -> Self {
        let (password_hash, initial_password) = match password {
            Some(chosen) => (passwords::hash_chosen(chosen), None),
            None => {
                let generated = passwords::new_initial_password();
                (passwords::hash_generated(&generated), Some(generated))
            }
        };
        CompanyUser {
            id,
            email: email.to_string(),
            password_hash: Some(password_hash),
            initial_password,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The company's license users for `wanted` (email → the password an order gave, if any),
/// keyed by lowercase email: those that exist as they are (an existing user keeps its
/// password), the others created. Users are company-level, as the vendor's are: one created
/// for an order that then fails stays, without licenses. A race with another request creating
/// the same email is read again.
pub async fn ensure(
    store: TenantStore<'_>,
    ids: &IdGenerator,
    wanted: &HashMap<String, Option<String>>,
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
            .map(|email| CompanyUser::new(ids.next_id(), email, wanted[email].as_deref(), now))
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
