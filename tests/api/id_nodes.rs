//! Id node leases against moto (issue 11, item 7): live leases are never shared, an expired
//! one is taken over, the holder can tell it lost its node, and a full node space fails loudly.

use shared::ids::{now_ms, CLOCK_SKEW_MS, LEASE_MS};
use shared::store::Store;

/// A table of this test's own: its node space of 4 is not the one other tests lease from.
async fn own_store() -> Store {
    let sdk = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("id-nodes-{}", shared::ids::new_lease_owner());
    provision::create_table(&client, &table).await.expect("table");
    Store::new(client, table)
}

#[tokio::test]
async fn live_leases_are_never_shared_and_expired_ones_are_taken_over() {
    integration_tests::app().await; // moto is up
    let store = own_store().await;
    let now = now_ms();
    let live = now + LEASE_MS;
    let mut nodes = Vec::new();
    for owner in ["a", "b", "c"] {
        nodes.push(store.lease_id_node(owner, now, live, 4).await.expect("a free node"));
    }
    // The fourth node's lease has just expired, but not by more than clocks may disagree.
    let d = store.lease_id_node("d", now, now - 1, 4).await.expect("the last node");
    let mut taken: Vec<u64> = nodes.iter().chain([&d]).map(|l| l.node).collect();
    taken.sort();
    assert_eq!(taken, [0, 1, 2, 3], "four owners, four different nodes");
    let full = store.lease_id_node("e", now, live, 4).await;
    assert!(full.is_err_and(|e| e.to_string().contains("all 4 id node numbers are leased")));

    // Later, d's lease is long expired: e takes its node, and d learns it on renewal.
    let later = now + CLOCK_SKEW_MS + 10;
    let e = store.lease_id_node("e", later, later + LEASE_MS, 4).await.expect("d's expired node");
    assert_eq!(e.node, d.node);
    assert!(!store.renew_id_node(&d, later + LEASE_MS).await.unwrap(), "d lost its node");
    assert!(store.renew_id_node(&e, later + LEASE_MS).await.unwrap());
    assert!(store.renew_id_node(&nodes[0], later + LEASE_MS).await.unwrap());

    // A released node is free once clocks surely agree its lease ended.
    store.release_id_node(&nodes[1], later).await.unwrap();
    assert!(store.lease_id_node("f", later, later + LEASE_MS, 4).await.is_err(), "not yet");
    let much_later = later + CLOCK_SKEW_MS + 10;
    let f = store.lease_id_node("f", much_later, much_later + LEASE_MS, 4).await.expect("the released node");
    assert_eq!(f.node, nodes[1].node);
}
