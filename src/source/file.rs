//! TEMPORARY stub.
#![allow(dead_code, unused_variables)]
use super::*;
pub struct FileSource;
impl FileSource {
    pub fn open_path(path: &std::path::Path, partitions: u32) -> Result<Self, SourceError> {
        todo!()
    }
}
impl PartitionedSource for FileSource {
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
