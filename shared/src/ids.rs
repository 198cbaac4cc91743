//! Time-ordered 64-bit ids that stay below 2^53 (exact in JavaScript).
//!
//! Layout (53 bits): 41 bits of milliseconds since 2020-01-01T00:00:00Z (good until 2089),
//! 10 bits of node number, 2 bits of sequence. When a container asks for more than 4 ids in
//! one millisecond the generator borrows the next millisecond: ids stay unique and increasing,
//! and run at most briefly ahead of the clock.
//!
//! Node numbers are *leased* (see [`NodeLease`] and `Store::lease_id_node`): a container holds
//! its node with an owner token and an expiry, renews it while it works, and never takes a
//! node whose lease is live; if all 1,024 are live it fails loudly rather than share one. So
//! no two live containers ever share a node, however many cold starts there have been. Every
//! create is also conditional (`attribute_not_exists`): even a bug here could refuse a write,
//! never overwrite one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use time::OffsetDateTime;

pub type Id = u64;

const EPOCH_MS: i128 = 1_577_836_800_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 2;
pub const NODE_COUNT: u64 = 1 << NODE_BITS;
const MAX_TIME_MS: u64 = (1 << 41) - 1;

#[derive(Debug)]
pub struct IdGenerator {
    node: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_ms: u64,
    seq: u64,
}

impl IdGenerator {
    /// `node` is taken modulo the node space.
    pub fn new(node: u64) -> Self {
        Self { node: AtomicU64::new(node % NODE_COUNT), state: Mutex::new(State::default()) }
    }

    /// The node this generator stamps into ids.
    pub fn node(&self) -> u64 {
        self.node.load(Ordering::SeqCst)
    }

    /// Stamps `node` from now on (a container whose lease was taken over leases another).
    pub fn set_node(&self, node: u64) {
        self.node.store(node % NODE_COUNT, Ordering::SeqCst);
    }

    pub fn next_id(&self) -> Id {
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 - EPOCH_MS)
            .clamp(0, MAX_TIME_MS as i128) as u64;
        self.next_at(now_ms)
    }

    fn next_at(&self, now_ms: u64) -> Id {
        // A poisoned lock only means another thread panicked mid-update; the state is two
        // integers and still consistent.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms > state.last_ms {
            state.last_ms = now_ms;
            state.seq = 0;
        } else {
            state.seq += 1;
            if state.seq >= 1 << SEQ_BITS {
                state.last_ms += 1;
                state.seq = 0;
            }
        }
        (state.last_ms.min(MAX_TIME_MS) << (NODE_BITS + SEQ_BITS)) | (self.node() << SEQ_BITS) | state.seq
    }
}

/// How long a node lease lasts (milliseconds). Longer than the longest invocation (the import
/// worker's 900 s) plus [`RENEW_BEFORE_MS`]'s margin, so a lease checked at the start of an
/// invocation outlives it.
pub const LEASE_MS: i64 = 30 * 60 * 1_000;
/// A lease with less than this left is renewed before its ids are used (milliseconds).
pub const RENEW_BEFORE_MS: i64 = 20 * 60 * 1_000;
/// Clocks of two containers may differ by this much: a lease is only taken over this long
/// after it expired (milliseconds).
pub const CLOCK_SKEW_MS: i64 = 60 * 1_000;

/// A container's claim on a node number: `owner` (random per container) holds `node` until
/// `until_ms` (Unix milliseconds). Pure rules; the store makes them atomic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLease {
    pub node: u64,
    pub owner: String,
    pub until_ms: i64,
}

impl NodeLease {
    /// Whether the holder must renew before issuing more ids.
    pub fn needs_renewal(&self, now_ms: i64) -> bool {
        self.until_ms - now_ms < RENEW_BEFORE_MS
    }

    /// Whether another container may take this node: the lease expired longer ago than the
    /// clocks can disagree.
    pub fn can_be_taken(until_ms: i64, now_ms: i64) -> bool {
        until_ms + CLOCK_SKEW_MS < now_ms
    }

    /// The expiry of a lease taken or renewed at `now_ms`.
    pub fn expiry(now_ms: i64) -> i64 {
        now_ms + LEASE_MS
    }
}

/// A random token naming one container (or process) as a lease owner.
pub fn new_lease_owner() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The creation time an id encodes (milliseconds precision).
pub fn id_time(id: Id) -> OffsetDateTime {
    let ms = (id >> (NODE_BITS + SEQ_BITS)) as i128 + EPOCH_MS;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The smallest id generated at `at` (ids are ordered by time, so a time bound is an id bound).
pub fn first_id_at(at: OffsetDateTime) -> Id {
    let ms = (at.unix_timestamp_nanos() / 1_000_000 - EPOCH_MS).clamp(0, MAX_TIME_MS as i128) as u64;
    ms << (NODE_BITS + SEQ_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_increase_and_stay_below_2_pow_53() {
        let ids = IdGenerator::new(1023);
        let mut last = 0;
        for _ in 0..10_000 {
            let id = ids.next_id();
            assert!(id > last, "{id} after {last}");
            assert!(id < 1 << 53);
            last = id;
        }
        assert!(ids.next_at(MAX_TIME_MS) < 1 << 53);
    }

    #[test]
    fn bursts_borrow_the_next_millisecond() {
        let ids = IdGenerator::new(7);
        let got: Vec<Id> = (0..9).map(|_| ids.next_at(1_000)).collect();
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 9);
        assert_eq!(got[3] >> 12, 1_000);
        assert_eq!(got[4] >> 12, 1_001);
        assert_eq!(got[8] >> 12, 1_002);
        assert!(got.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn different_nodes_never_collide_in_the_same_millisecond() {
        let a = IdGenerator::new(1);
        let b = IdGenerator::new(2);
        let from_a: HashSet<Id> = (0..100).map(|_| a.next_at(5)).collect();
        assert!((0..100).map(|_| b.next_at(5)).all(|id| !from_a.contains(&id)));
    }

    #[test]
    fn first_id_at_bounds_the_ids_of_that_millisecond() {
        let ids = IdGenerator::new(1023);
        let id = ids.next_at(12_345);
        let at = id_time(id);
        assert!(first_id_at(at) <= id);
        assert!(first_id_at(at + time::Duration::milliseconds(1)) > id);
    }

    #[test]
    fn leases_renew_before_any_invocation_could_outlive_them() {
        let now = 1_000_000_000;
        let lease = NodeLease { node: 3, owner: "a".into(), until_ms: NodeLease::expiry(now) };
        assert!(!lease.needs_renewal(now));
        // Any invocation starting without renewal has more than the worker's 900 s left.
        let last_unrenewed_start = lease.until_ms - RENEW_BEFORE_MS;
        assert!(!lease.needs_renewal(last_unrenewed_start));
        assert!(lease.until_ms - last_unrenewed_start > 900_000);
        assert!(lease.needs_renewal(last_unrenewed_start + 1));
        assert!(lease.needs_renewal(lease.until_ms + 1));
    }

    #[test]
    fn a_lease_is_taken_over_only_after_it_expired_by_more_than_the_clock_skew() {
        let until = 5_000_000;
        assert!(!NodeLease::can_be_taken(until, until - 1));
        assert!(!NodeLease::can_be_taken(until, until));
        assert!(!NodeLease::can_be_taken(until, until + CLOCK_SKEW_MS));
        assert!(NodeLease::can_be_taken(until, until + CLOCK_SKEW_MS + 1));
    }

    #[test]
    fn a_generator_moved_to_another_node_stamps_it() {
        let ids = IdGenerator::new(5);
        let before = ids.next_at(100);
        ids.set_node(1029);
        let after = ids.next_at(101);
        assert_eq!((before >> SEQ_BITS) & (NODE_COUNT - 1), 5);
        assert_eq!((after >> SEQ_BITS) & (NODE_COUNT - 1), 5, "1029 is node 5 modulo the node space");
        ids.set_node(6);
        assert_eq!((ids.next_at(102) >> SEQ_BITS) & (NODE_COUNT - 1), 6);
    }

    #[test]
    fn id_time_round_trips_the_clock() {
        let before = OffsetDateTime::now_utc();
        let id = IdGenerator::new(3).next_id();
        let at = id_time(id);
        assert!((at - before).whole_milliseconds().abs() < 1_000);
    }
}
