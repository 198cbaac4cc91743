//! Issue 14 (API.md §8.2): a license's users, and the company's `/license-users/`.

use integration_tests::{counter_mismatches, ids, Tenant};
use lambda_http::http::Method;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/orders/create_order/";

/// A tenant with products `app` and `cli`, an `app` license allowing 2 users with one user
/// (`first@example.com`, from the order), and a `cli` license: their ids.
async fn licenses() -> (Tenant, u64, u64) {
    let t = Tenant::new().await;
    t.product("app").await;
    t.product("cli").await;
    let (status, order) = t
        .post(
            CREATE,
            &json!({"id": "users-1", "items": [
                {"product_code": "app", "licenses": [{"key": "USR-1", "max_license_users": 2,
                  "users": [{"email": "first@example.com", "first_name": "Fi"}]}]},
                {"product_code": "cli", "licenses": [{"key": "USR-2"}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let items = &order["order_items"];
    (t, items[0]["licenses"][0]["id"].as_u64().unwrap(), items[1]["licenses"][0]["id"].as_u64().unwrap())
}

fn emails(license: &Value) -> Vec<String> {
    license["license_users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect()
}

async fn actions(t: &Tenant, license: u64) -> Vec<String> {
    let (_, page) = t.get(&format!("/api/v1/license-histories/?license={license}")).await;
    page["results"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn users_are_assigned_unassigned_and_given_activations_on_a_license() {
    let (t, app, cli) = licenses().await;
    let path = format!("/api/v1/licenses/{app}/");
    let (status, license) = t
        .post(
            &format!("{path}assign_user/"),
            &json!({"email": "Second@Example.com", "first_name": "Se", "is_manager": true, "max_activations": 3}),
        )
        .await;
    assert_eq!(status, 200, "{license}");
    assert_eq!(emails(&license), ["first@example.com", "Second@Example.com"]);
    let second = &license["license_users"][1];
    assert_eq!((second["is_manager"].clone(), second["max_activations"].clone()), (json!(true), json!(3)));
    assert_eq!(second["is_initial_password"], true);
    assert_eq!(second["initial_password"].as_str().unwrap().len(), 12, "a generated initial password");
    assert_eq!(t.get(&path).await.1, license, "what it answered is what is stored");

    // Twice, over max_license_users, a bad email: 400, nothing written.
    let (status, twice) = t.post(&format!("{path}assign_user/"), &json!({"email": "second@example.com"})).await;
    assert_eq!((status, twice["email"].is_array()), (400, true), "{twice}");
    let (status, full) = t.post(&format!("{path}assign_user/"), &json!({"email": "third@example.com"})).await;
    assert_eq!((status, full["max_license_users"].is_array()), (400, true), "{full}");
    let (_, nobody) = t.get("/api/v1/license-users/?true_email=third@example.com").await;
    assert_eq!(nobody["count"], 0, "a refused assignment creates no user");
    let (status, bad) = t.post(&format!("{path}assign_user/"), &json!({"email": "nope"})).await;
    assert_eq!((status, bad["email"].is_array()), (400, true), "{bad}");
    assert_eq!(emails(&t.get(&path).await.1).len(), 2);

    // assign_users: one result per email, in the order given; the same person on two licenses.
    let cli_path = format!("/api/v1/licenses/{cli}/");
    let (status, results) = t
        .post(
            &format!("{cli_path}assign_users/"),
            &json!({"emails": [{"email": "new@example.com", "is_manager": true}, {"email": "first@example.com"}]}),
        )
        .await;
    assert_eq!(status, 200, "{results}");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0]["email"].clone(), results[0]["is_manager"].clone()),
        (json!("new@example.com"), json!(true))
    );
    assert_eq!(results[1]["first_name"], "Fi", "the existing user, as the company has it");
    let first_id = results[1]["id"].as_u64().unwrap();
    assert_eq!(license["license_users"][0]["id"].as_u64().unwrap(), first_id, "one user, one id");
    let (status, dup) = t
        .post(&format!("{cli_path}assign_users/"), &json!({"emails": [{"email": "a@x.io"}, {"email": "A@x.io"}]}))
        .await;
    assert_eq!((status, dup["emails.1.email"].is_array()), (400, true), "{dup}");

    // set_users_activations, then unassign_user.
    let second_id = second["id"].as_u64().unwrap();
    let (status, set) = t
        .post(
            &format!("{path}set_users_activations/"),
            &json!({second_id.to_string(): {"max_activations": 9, "reset_total_activations": true}}),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["license_users"][1]["max_activations"], 9);
    let (status, unknown) =
        t.post(&format!("{path}set_users_activations/"), &json!({"999": {"max_activations": 1}})).await;
    assert_eq!((status, unknown["999"].is_array()), (400, true), "{unknown}");
    let (status, after) = t.post(&format!("{path}unassign_user/"), &json!({"license_user_id": first_id})).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(emails(&after), ["Second@Example.com"]);
    let (status, again) = t.post(&format!("{path}unassign_user/"), &json!({"license_user_id": first_id})).await;
    assert_eq!((status, again["license_user_id"].is_array()), (400, true), "{again}");
    let (_, still) = t.get(&cli_path).await;
    assert_eq!(emails(&still), ["new@example.com", "first@example.com"], "the other license keeps the user");

    assert_eq!(actions(&t, app).await, ["user_unassigned", "updated", "user_assigned", "created"]);
    assert_eq!(actions(&t, cli).await, ["user_assigned", "created"]);
    let (_, entries) = t.get(&format!("/api/v1/license-histories/?license={app}")).await;
    assert!(!entries.to_string().contains(second["initial_password"].as_str().unwrap()), "no password in history");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
}

#[tokio::test]
async fn license_users_are_listed_changed_and_given_passwords() {
    let (t, app, cli) = licenses().await;
    t.post(&format!("/api/v1/licenses/{app}/assign_user/"), &json!({"email": "boss@example.com", "is_manager": true}))
        .await;
    t.post(&format!("/api/v1/licenses/{cli}/assign_user/"), &json!({"email": "other@example.com"})).await;

    let (status, all) = t.get("/api/v1/license-users/").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["count"], 3);
    let list = |query: &'static str| {
        let t = &t;
        async move {
            let (status, page) = t.get(&format!("/api/v1/license-users/?{query}")).await;
            assert_eq!(status, 200, "{query}: {page}");
            let mut found: Vec<String> =
                page["results"].as_array().unwrap().iter().map(|u| u["true_email"].as_str().unwrap().into()).collect();
            found.sort();
            found
        }
    };
    assert_eq!(list("true_email=boss@example.com").await, ["boss@example.com"]);
    assert_eq!(list("true_email__iexact=BOSS@example.com").await, ["boss@example.com"]);
    assert_eq!(list("true_email__icontains=OTHER").await, ["other@example.com"]);
    assert_eq!(list(&*format!("license={app}").leak()).await, ["boss@example.com", "first@example.com"]);
    assert_eq!(list(&*format!("license={app}&is_manager=true").leak()).await, ["boss@example.com"]);
    assert_eq!(list("license=1").await, Vec::<String>::new(), "an unknown license has no users");
    assert_eq!(list("order_by=-true_email&limit=1").await, ["other@example.com"]);

    // PATCH: the person everywhere; with `license`, its values on that license too.
    let boss = t.get("/api/v1/license-users/?true_email=boss@example.com").await.1["results"][0].clone();
    let boss_id = boss["id"].as_u64().unwrap();
    let user_path = format!("/api/v1/license-users/{boss_id}/");
    let (status, patched) =
        t.patch(&format!("{user_path}?license={app}"), &json!({"first_name": "Bo", "max_activations": 4})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["first_name"].clone(), patched["max_activations"].clone()), (json!("Bo"), json!(4)));
    let (_, license) = t.get(&format!("/api/v1/licenses/{app}/")).await;
    let on_license = license["license_users"].as_array().unwrap().iter().find(|u| u["id"] == boss_id).unwrap().clone();
    assert_eq!((on_license["first_name"].clone(), on_license["max_activations"].clone()), (json!("Bo"), json!(4)));
    assert_eq!(t.get(&user_path).await.1["first_name"], "Bo");
    let (status, bad) = t.patch(&user_path, &json!({"max_activations": "many"})).await;
    assert_eq!((status, bad["max_activations"].is_array()), (400, true), "{bad}");
    let (status, _) = t.patch(&format!("{user_path}?license={cli}"), &json!({"is_manager": false})).await;
    assert_eq!(status, 400, "not a user of that license");
    assert_eq!(actions(&t, app).await, ["updated", "user_assigned", "created"]);

    // set_password by id and by email: no initial password any more, on every license.
    let initial = on_license["initial_password"].as_str().unwrap().to_string();
    assert_eq!(initial.len(), 12);
    let (status, short) = t.post(&format!("{user_path}set_password/"), &json!({"password": "short"})).await;
    assert_eq!((status, short["password"].is_array()), (400, true), "{short}");
    let (status, set) = t.post(&format!("{user_path}set_password/"), &json!({"password": "a long secret"})).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!((set["is_initial_password"].clone(), set["initial_password"].clone()), (json!(false), json!("")));
    let (_, license) = t.get(&format!("/api/v1/licenses/{app}/")).await;
    assert!(!license.to_string().contains(&initial), "the license no longer shows it");
    let (status, by_email) = t
        .post("/api/v1/license-users/set_password/?email=OTHER@example.com", &json!({"password": "another secret"}))
        .await;
    assert_eq!((status, by_email["true_email"].clone()), (200, json!("other@example.com")), "{by_email}");
    let (status, _) =
        t.post("/api/v1/license-users/set_password/?email=nobody@example.com", &json!({"password": "whatever1"})).await;
    assert_eq!(status, 404);

    // A manager scoped to `cli` reads users, sees no users on `app`'s license, changes no one.
    let cli_product = t.get("/api/v1/products/?short_code=cli").await.1["results"][0]["id"].as_u64().unwrap();
    let scoped = t.scoped_key(&[cli_product]).await;
    let (_, seen) = t.call_as(Some(&scoped), Method::GET, &format!("/api/v1/license-users/?license={app}"), None).await;
    assert_eq!(seen["count"], 0);
    assert_eq!(
        t.call_as(
            Some(&scoped),
            Method::POST,
            &format!("/api/v1/licenses/{app}/assign_user/"),
            Some(&json!({"email": "x@y.io"}))
        )
        .await
        .0,
        404
    );
    let (status, _) = t.call_as(Some(&scoped), Method::PATCH, &user_path, Some(&json!({"first_name": "X"}))).await;
    assert_eq!(status, 403);
    let (status, _) = t
        .call_as(
            Some(&scoped),
            Method::POST,
            &format!("{user_path}set_password/"),
            Some(&json!({"password": "12345678"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(ids(&t.get("/api/v1/license-users/").await.1).len(), 3, "nobody created for a refused call");
    assert_eq!(counter_mismatches(&t).await, Vec::<String>::new());
}
