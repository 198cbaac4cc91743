//! Time-ordered 64-bit ids that stay below 2^53 (exact in JavaScript).
//!
//! Layout (53 bits): 41 bits of milliseconds since 2020-01-01T00:00:00Z (good until 2089),
//! 10 bits of node number, 2 bits of sequence. Each warm container leases a node number from
//! an atomic DynamoDB counter (see `Store::lease_id_node`), so two live containers only share
//! one after 1,024 further cold starts; every create is also a conditional write
//! (`attribute_not_exists`), so even then a collision is refused, never an overwrite.
//! When a container asks for more than 4 ids in one millisecond the generator borrows the
//! next millisecond: ids stay unique and increasing, and run at most briefly ahead of the clock.

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
    node: u64,
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
        Self { node: node % NODE_COUNT, state: Mutex::new(State::default()) }
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
        (state.last_ms.min(MAX_TIME_MS) << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | state.seq
    }
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
    fn id_time_round_trips_the_clock() {
        let before = OffsetDateTime::now_utc();
        let id = IdGenerator::new(3).next_id();
        let at = id_time(id);
        assert!((at - before).whole_milliseconds().abs() < 1_000);
    }
}
