//! [`KeyTable`]: the deduplication state, a set of 128-bit keys with the time bucket each was
//! first delivered in, in one open-addressing table of 20-byte slots (linear probing), evicted by
//! bucket once the partitions that delivered into a bucket have moved past it.
//!
//! Why not a `HashMap<u128, _>`: a `u128` is 16-byte aligned, so a map entry with a bucket number
//! takes 32 bytes plus a control byte, and hashbrown doubles its capacity (load 44–88%), 36–73
//! bytes per live key. Here a slot is `[u32; 5]` (key and bucket), the capacity grows by a
//! quarter (any size: slots are picked by multiply-shift, not by a power-of-two mask) when a
//! rebuild finds it over 5/8 full, so that it is 50–80% full when a stream's keys have filled it:
//! 25–40 bytes per live key (an eviction empties it by a bucket's keys until new ones refill
//! the slots). Measured on the standard file's run: 26–38 bytes per key; 27–47 when it grew by
//! half whenever a rebuild (often set off by eviction's tombstones) found it over half full.
//! Keys are UUIDs or 128-bit hashes, so their bits are already random.
//!
//! Eviction marks slots as tombstones (lookups probe past them, inserts reuse them); a rebuild
//! clears tombstones when they crowd the table. It runs once per bucket the watermark passes, a
//! sequential scan.
//!
//! The table is [`SHARDS`] independent shards (picked by the key's low bits): a growth or a
//! rebuild copies one shard, so the old and new slot arrays held at once are a 64th of the state
//! rather than all of it (a single table of 2M keys briefly held ~100 MB while growing).

/// One slot: the key as four words and its bucket; `bucket` is [`EMPTY`] or [`TOMBSTONE`] when
/// no key is there.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: [u32; 4],
    bucket: u32,
}

const EMPTY: u32 = u32::MAX;
const TOMBSTONE: u32 = u32::MAX - 1;
/// The largest bucket number a key can have (buckets are relative to the table's origin).
pub const MAX_BUCKET: u32 = u32::MAX - 2;

const FREE: Slot = Slot {
    key: [0; 4],
    bucket: EMPTY,
};

/// Number of shards of a [`KeyTable`].
pub const SHARDS: usize = 64;

/// A set of 128-bit keys, each with the event-time bucket it belongs to; see the module docs.
pub struct KeyTable {
    shards: Vec<Shard>,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

/// The low half of a key mixed with its high half: what shards and slots are picked from.
#[inline]
fn mixed(key: u128) -> u64 {
    (key as u64) ^ ((key >> 64) as u64).rotate_left(29)
}

impl KeyTable {
    /// A table for about `n` keys before it grows.
    pub fn with_capacity(n: usize) -> Self {
        KeyTable {
            shards: (0..SHARDS)
                .map(|_| Shard::with_capacity(n.div_ceil(SHARDS)))
                .collect(),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.live).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the slot arrays (the whole state).
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(Shard::bytes).sum()
    }

    /// The shard of a key: by the mixed key's low bits (slots within a shard are picked by its
    /// high bits, and owner workers by the key's high half).
    #[inline]
    fn shard(&self, key: u128) -> usize {
        (mixed(key) as usize) % SHARDS
    }

    /// Whether `key` is held.
    pub fn contains(&self, key: u128) -> bool {
        self.shards[self.shard(key)].find(key).is_ok()
    }

    /// Adds `key` in `bucket` unless it is held; returns whether it was new.
    pub fn insert(&mut self, key: u128, bucket: u32) -> bool {
        self.admit(key, bucket, 0)
    }

    /// Adds `key` in `bucket` unless it is held in a bucket at or above `forgotten_below`;
    /// returns whether it was added. A key held in a bucket below `forgotten_below` counts as
    /// forgotten (as if already evicted): it is added again, in `bucket`. A key that is kept
    /// stays in its bucket (its first delivery's: copies do not extend its life).
    pub fn admit(&mut self, key: u128, bucket: u32, forgotten_below: u32) -> bool {
        let shard = self.shard(key);
        self.shards[shard].admit(key, bucket, forgotten_below)
    }

    /// Removes every key whose bucket is below `bucket`; returns how many.
    pub fn evict_below(&mut self, bucket: u32) -> usize {
        self.evict_where(|b| b < bucket)
    }

    /// Removes every key whose bucket `evict` says; returns how many.
    pub fn evict_where(&mut self, evict: impl Fn(u32) -> bool) -> usize {
        self.shards.iter_mut().map(|s| s.evict_where(&evict)).sum()
    }
}

/// One shard: an open-addressing table of slots.
struct Shard {
    slots: Vec<Slot>,
    live: usize,
    tombstones: usize,
}

fn words(key: u128) -> [u32; 4] {
    [
        key as u32,
        (key >> 32) as u32,
        (key >> 64) as u32,
        (key >> 96) as u32,
    ]
}

impl Shard {
    fn with_capacity(n: usize) -> Self {
        Shard {
            slots: vec![FREE; (n * 5 / 4).max(16)],
            live: 0,
            tombstones: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    fn home(&self, key: u128) -> usize {
        // Multiply-shift of the mixed key onto the capacity (the high bits of the product).
        let h = mixed(key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((u128::from(h) * self.slots.len() as u128) >> 64) as usize
    }

    /// Finds `key`: `Ok(slot)` where it is, or `Err(slot)` where it would be inserted (the first
    /// tombstone on its probe path, else the empty slot that ended the probe).
    fn find(&self, key: u128) -> Result<usize, usize> {
        let want = words(key);
        let n = self.slots.len();
        let mut i = self.home(key);
        let mut reuse = None;
        loop {
            let s = &self.slots[i];
            match s.bucket {
                EMPTY => return Err(reuse.unwrap_or(i)),
                TOMBSTONE => {
                    reuse.get_or_insert(i);
                }
                _ if s.key == want => return Ok(i),
                _ => {}
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    fn admit(&mut self, key: u128, bucket: u32, forgotten_below: u32) -> bool {
        let bucket = bucket.min(MAX_BUCKET);
        match self.find(key) {
            Ok(i) => {
                let s = &mut self.slots[i];
                if s.bucket < forgotten_below {
                    s.bucket = bucket;
                    return true;
                }
                false
            }
            Err(i) => {
                if self.slots[i].bucket == TOMBSTONE {
                    self.tombstones -= 1;
                }
                self.slots[i] = Slot {
                    key: words(key),
                    bucket,
                };
                self.live += 1;
                if (self.live + self.tombstones) * 5 > self.slots.len() * 4 {
                    self.rebuild();
                }
                true
            }
        }
    }

    fn evict_where(&mut self, evict: &impl Fn(u32) -> bool) -> usize {
        let mut evicted = 0;
        for s in &mut self.slots {
            if s.bucket < TOMBSTONE && evict(s.bucket) {
                s.bucket = TOMBSTONE;
                evicted += 1;
            }
        }
        self.live -= evicted;
        self.tombstones += evicted;
        if self.tombstones * 4 > self.slots.len() {
            self.rebuild();
        }
        evicted
    }

    /// Rehashes the live keys into a table sized for them: a quarter larger when over 5/8 full
    /// (then 50–64% full), the same size otherwise (tombstones only: at most 5/8 full).
    fn rebuild(&mut self) {
        let n = self.slots.len();
        let size = if self.live * 8 > n * 5 { n + n / 4 } else { n };
        let old = std::mem::replace(&mut self.slots, vec![FREE; size.max(16)]);
        self.live = 0;
        self.tombstones = 0;
        for s in old {
            if s.bucket < TOMBSTONE {
                let key = u128::from(s.key[0])
                    | u128::from(s.key[1]) << 32
                    | u128::from(s.key[2]) << 64
                    | u128::from(s.key[3]) << 96;
                let i = self.find(key).expect_err("keys are unique");
                self.slots[i] = s;
                self.live += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    #[test]
    fn behaves_like_a_map_of_keys_to_their_first_bucket() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut table = KeyTable::default();
        let mut model: HashMap<u128, u32> = HashMap::new();
        // Small key space so that keys repeat; buckets advance; evictions now and then.
        let mut bucket = 0u32;
        for step in 0..200_000u32 {
            if step % 5_000 == 4_999 {
                bucket += 1;
                let below = bucket.saturating_sub(3);
                let expected = model.values().filter(|&&b| b < below).count();
                model.retain(|_, b| *b >= below);
                if bucket % 2 == 0 {
                    assert_eq!(table.evict_below(below), expected);
                } else {
                    assert_eq!(table.evict_where(|b| b < below), expected);
                }
            }
            let key = u128::from(rng.random_range(0..20_000u32)) * 0x1_0000_0001_0000_0001;
            let b = bucket.saturating_sub(rng.random_range(0..2));
            // Now and then a delivery whose partition has forgotten the older buckets.
            let forgotten_below = if step % 3 == 0 {
                bucket.saturating_sub(rng.random_range(0..3))
            } else {
                0
            };
            let added = match model.get_mut(&key) {
                None => {
                    model.insert(key, b);
                    true
                }
                Some(e) if *e < forgotten_below => {
                    *e = b;
                    true
                }
                Some(_) => false,
            };
            assert_eq!(table.admit(key, b, forgotten_below), added);
            assert_eq!(table.len(), model.len());
        }
        for key in model.keys() {
            assert!(table.contains(*key));
        }
        assert!(!table.contains(u128::MAX));
        // Zero is a key like any other.
        assert!(table.insert(0, 1));
        assert!(table.contains(0));
    }

    #[test]
    fn a_live_key_costs_at_most_40_bytes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut table = KeyTable::default();
        for n in 1..=300_000usize {
            table.insert(rng.random(), 0);
            if n >= 1_000 {
                assert!(
                    table.bytes() <= 40 * n,
                    "{} bytes for {n} keys",
                    table.bytes()
                );
            }
        }
    }

    #[test]
    fn a_live_key_costs_at_most_40_bytes_in_a_steady_stream_with_evictions() {
        // Keys arrive in advancing buckets and the oldest are evicted: tombstones set rebuilds
        // off. Just before each eviction (the most the table holds) a key costs at most 40
        // bytes.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut table = KeyTable::default();
        for step in 0..1_500_000u32 {
            let bucket = step / 50_000;
            if step % 50_000 == 49_999 {
                if step >= 400_000 {
                    assert!(
                        table.bytes() <= 40 * table.len(),
                        "{} bytes for {} keys at step {step}",
                        table.bytes(),
                        table.len()
                    );
                }
                table.evict_below(bucket.saturating_sub(6));
            }
            table.insert(rng.random(), bucket);
        }
    }

    #[test]
    fn growth_copies_one_shard_at_a_time() {
        // A growth holds one shard's old and new slots at once: with the keys spread evenly,
        // that is a small fraction of the state, for UUID-like keys and for hashed ones alike.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for uuid_like in [true, false] {
            let mut table = KeyTable::default();
            for _ in 0..500_000 {
                let mut key: u128 = rng.random();
                if uuid_like {
                    // version 4 and variant bits, as in a random UUID
                    key = (key & !(0xF << 76) & !(0b11 << 62)) | (0x4 << 76) | (0b10 << 62);
                }
                table.insert(key, 0);
            }
            let largest = table.shards.iter().map(Shard::bytes).max().unwrap();
            assert!(
                largest * 20 <= table.bytes(),
                "largest shard {largest} of {} bytes",
                table.bytes()
            );
        }
    }
}
