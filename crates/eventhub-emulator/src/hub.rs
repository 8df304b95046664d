//! Broker state: hubs, their partitions and consumer groups, partition
//! assignment for producers and owner-level (epoch) bookkeeping for readers.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use tokio::sync::{oneshot, watch};

use crate::{
    config::{EmulatorConfig, HubSpec, DEFAULT_CONSUMER_GROUP},
    error::Result,
    log::{AmqpMessage, PartitionLog},
};

/// One partition: its log and a counter that wakes waiting consumers.
#[derive(Debug)]
pub struct Partition {
    /// Partition id.
    pub id: u32,
    log: Mutex<PartitionLog>,
    appended: watch::Sender<usize>,
}

impl Partition {
    fn new(id: u32, log: PartitionLog) -> Self {
        let (appended, _) = watch::channel(log.end());
        Self {
            id,
            log: Mutex::new(log),
            appended,
        }
    }

    /// Locks the log (a poisoned lock is recovered: the log stays consistent
    /// because appends mutate it only after encoding succeeded).
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to the event count, which changes on every append.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.appended.subscribe()
    }

    /// Appends messages and wakes consumers.
    pub fn append(&self, messages: Vec<AmqpMessage>, partition_key: Option<&str>) -> Result<usize> {
        let mut log = self.log();
        let n = log.append(messages, partition_key)?;
        let len = log.end();
        drop(log);
        self.appended.send_replace(len);
        Ok(n)
    }
}

/// A reader registered on a (consumer group, partition).
#[derive(Debug)]
struct Reader {
    id: u64,
    epoch: Option<i64>,
    steal: Option<oneshot::Sender<()>>,
}

/// Why a reader was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnershipError {
    /// A reader with a higher owner level holds the partition.
    LowerEpoch {
        /// The epoch that holds the partition.
        current: i64,
    },
}

/// One event hub.
#[derive(Debug)]
pub struct Hub {
    /// Hub name as configured.
    pub name: String,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Partitions `0..n`.
    pub partitions: Vec<Arc<Partition>>,
    consumer_groups: Vec<String>,
    round_robin: AtomicU64,
    readers: Mutex<HashMap<(String, u32), Vec<Reader>>>,
}

/// The partition of a partition key over `partitions` partitions (0 counts as 1): FNV-1a
/// (32 bit) of the key's bytes (UTF-8 for a string key) modulo the partition count.
///
/// This is the emulator's stand-in for Event Hubs' partition-key → partition mapping, and the
/// one implementation of it: medallion's sources (`medallion::source::partition_for_key`) and
/// its producer route keys with this function, so that a file source, the generator and events
/// sent through the emulator put the same key in the same partition.
#[inline]
pub fn partition_for_key(key: impl AsRef<[u8]>, partitions: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.as_ref() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % partitions.max(1)
}

impl Hub {
    fn new(
        spec: &HubSpec,
        data_dir: Option<&Path>,
        retention: Option<std::time::Duration>,
    ) -> Result<Self> {
        let partitions = (0..spec.partitions)
            .map(|id| {
                let log = match data_dir {
                    Some(dir) => {
                        PartitionLog::open(&dir.join(&spec.name).join(format!("{id}.log")))?
                    }
                    None => PartitionLog::in_memory(),
                }
                .with_retention(retention);
                Ok(Arc::new(Partition::new(id, log)))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut consumer_groups = vec![DEFAULT_CONSUMER_GROUP.to_string()];
        consumer_groups.extend(spec.consumer_groups.iter().cloned());
        Ok(Self {
            name: spec.name.clone(),
            created_at_ms: chrono::Utc::now().timestamp_millis(),
            partitions,
            consumer_groups,
            round_robin: AtomicU64::new(0),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// Partition by id string (`"0"`, `"1"`, ...).
    pub fn partition(&self, id: &str) -> Option<&Arc<Partition>> {
        let id: usize = id.parse().ok()?;
        self.partitions.get(id)
    }

    /// Whether the consumer group exists (case-insensitive, like Event Hubs).
    pub fn has_consumer_group(&self, cg: &str) -> bool {
        self.consumer_groups
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cg))
    }

    /// Picks the partition for a message without an explicit partition id.
    pub fn route(&self, partition_key: Option<&str>) -> &Arc<Partition> {
        let n = self.partitions.len() as u32;
        let idx = match partition_key {
            Some(key) => partition_for_key(key, n),
            None => (self.round_robin.fetch_add(1, Ordering::Relaxed) % u64::from(n)) as u32,
        };
        &self.partitions[idx as usize]
    }

    fn readers(&self) -> MutexGuard<'_, HashMap<(String, u32), Vec<Reader>>> {
        self.readers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a reader. A reader with an owner level (epoch) takes the
    /// partition from readers with a lower or no epoch; those receive a
    /// signal on their `steal` channel. Readers without epoch are refused
    /// while an epoch reader holds the partition.
    pub fn register_reader(
        &self,
        consumer_group: &str,
        partition: u32,
        id: u64,
        epoch: Option<i64>,
    ) -> std::result::Result<oneshot::Receiver<()>, OwnershipError> {
        let mut readers = self.readers();
        let list = readers
            .entry((consumer_group.to_ascii_lowercase(), partition))
            .or_default();
        let current = list.iter().filter_map(|r| r.epoch).max();
        match (epoch, current) {
            (Some(e), Some(c)) if e < c => return Err(OwnershipError::LowerEpoch { current: c }),
            (None, Some(c)) => return Err(OwnershipError::LowerEpoch { current: c }),
            (Some(_), _) => {
                for mut reader in list.drain(..) {
                    if let Some(steal) = reader.steal.take() {
                        let _ = steal.send(());
                    }
                }
            }
            (None, None) => {}
        }
        let (tx, rx) = oneshot::channel();
        list.push(Reader {
            id,
            epoch,
            steal: Some(tx),
        });
        Ok(rx)
    }

    /// Removes a reader registered with [`Hub::register_reader`].
    pub fn unregister_reader(&self, consumer_group: &str, partition: u32, id: u64) {
        let mut readers = self.readers();
        if let Some(list) = readers.get_mut(&(consumer_group.to_ascii_lowercase(), partition)) {
            list.retain(|r| r.id != id);
        }
    }
}

/// All hubs of one emulator instance.
#[derive(Debug)]
pub struct Broker {
    hubs: HashMap<String, Arc<Hub>>,
    /// Key that `$cbs` tokens must be signed with, if any.
    pub sas_key: Option<String>,
    next_id: AtomicU64,
}

impl Broker {
    /// Creates the hubs (reloading file-backed logs).
    pub fn new(config: &EmulatorConfig) -> Result<Self> {
        config.validate()?;
        let hubs = config
            .hubs
            .iter()
            .map(|spec| {
                Ok((
                    spec.name.to_ascii_lowercase(),
                    Arc::new(Hub::new(
                        spec,
                        config.data_dir.as_deref(),
                        config.retention,
                    )?),
                ))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        Ok(Self {
            hubs,
            sas_key: config.sas_key.clone(),
            next_id: AtomicU64::new(1),
        })
    }

    /// Hub by name (case-insensitive).
    pub fn hub(&self, name: &str) -> Option<&Arc<Hub>> {
        self.hubs.get(&name.to_ascii_lowercase())
    }

    /// A process-unique id for readers.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(&HubSpec::new("h", 2), None, None).unwrap()
    }

    #[test]
    fn epoch_readers_steal_and_refuse() {
        let hub = hub();
        let mut plain = hub.register_reader("$Default", 0, 1, None).unwrap();
        let mut first = hub.register_reader("$default", 0, 2, Some(5)).unwrap();
        assert!(
            plain.try_recv().is_ok(),
            "epoch reader takes over plain readers"
        );
        assert!(hub.register_reader("$Default", 0, 3, None).is_err());
        assert_eq!(
            hub.register_reader("$Default", 0, 4, Some(4)).unwrap_err(),
            OwnershipError::LowerEpoch { current: 5 }
        );
        let _second = hub.register_reader("$Default", 0, 5, Some(6)).unwrap();
        assert!(first.try_recv().is_ok());
        // Other partitions are independent.
        assert!(hub.register_reader("$Default", 1, 6, None).is_ok());
    }

    #[test]
    fn key_hash_is_fnv1a_32() {
        // FNV-1a 32 bit test vectors; a change here moves keys between partitions.
        assert_eq!(partition_for_key("", u32::MAX), 0x811c_9dc5);
        assert_eq!(partition_for_key("a", u32::MAX), 0xe40c_292c);
        assert_eq!(partition_for_key(b"foobar", u32::MAX), 0xbf9c_f968);
        assert_eq!(partition_for_key("a", 0), 0);
        assert_eq!(partition_for_key("a", 7), 0xe40c_292c % 7);
    }

    #[test]
    fn routing_is_stable() {
        let hub = hub();
        let a = hub.route(Some("key")).id;
        assert_eq!(a, hub.route(Some("key")).id);
        let r1 = hub.route(None).id;
        let r2 = hub.route(None).id;
        assert_ne!(r1, r2);
    }
}
