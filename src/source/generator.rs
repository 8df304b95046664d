//! TEMPORARY stub.
#![allow(dead_code, unused_variables)]
use super::*;
pub struct GeneratorSource;
impl GeneratorSource {
    pub fn new(cfg: crate::workload::WorkloadConfig, partitions: u32) -> Result<Self, SourceError> {
        todo!()
    }
}
impl PartitionedSource for GeneratorSource {
    fn partitions(&self) -> Vec<PartitionId> {
        todo!()
    }
    fn open(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<Box<dyn PartitionReader>, SourceError> {
        todo!()
    }
}
