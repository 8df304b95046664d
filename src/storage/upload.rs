//! [`Upload`]: a `std::io::Write` into an object store, for the Parquet writer on a worker
//! thread. A small file is buffered and sent with one `put`; once a file outgrows
//! [`PART_SIZE`] it becomes a multipart upload, with at most [`PARTS_IN_FLIGHT`] parts in flight,
//! so memory stays bounded however large the file.

use std::io::Write;
use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::{runtime, StorageError};

/// Files up to this size go in one `put`; larger ones in parts of this size.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploaded concurrently per file.
pub const PARTS_IN_FLIGHT: usize = 2;

/// A file being written to an object store (see the module docs).
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    location: String,
    buffer: Vec<u8>,
    multipart: Option<WriteMultipart>,
    written: u64,
}

impl Upload {
    /// Starts the file `path` in `store`; `location` names it in errors.
    pub fn new(store: Arc<dyn ObjectStore>, path: &str, location: String) -> Upload {
        Upload {
            store,
            path: StorePath::from(path),
            location,
            buffer: Vec::new(),
            multipart: None,
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn error(&self, source: object_store::Error) -> StorageError {
        StorageError::Store {
            location: self.location.clone(),
            source,
        }
    }

    /// Hands the buffer to the multipart upload (starting it if needed), waiting while too many
    /// parts are in flight.
    fn flush_parts(&mut self) -> Result<(), StorageError> {
        let rt = runtime();
        if self.multipart.is_none() {
            let upload = rt
                .block_on(self.store.put_multipart(&self.path))
                .map_err(|e| self.error(e))?;
            self.multipart = Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE));
        }
        let mut multipart = self.multipart.take().expect("started above");
        {
            let _in_runtime = rt.enter();
            multipart.write(&self.buffer);
        }
        self.buffer.clear();
        let waited = rt.block_on(multipart.wait_for_capacity(PARTS_IN_FLIGHT));
        self.multipart = Some(multipart);
        waited.map_err(|e| self.error(e))
    }

    /// Completes the file: one `put`, or the multipart upload's last part and completion.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        let rt = runtime();
        match self.multipart.take() {
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.buffer));
                rt.block_on(self.store.put(&self.path, payload))
                    .map_err(|e| self.error(e))?;
            }
            Some(mut multipart) => {
                {
                    let _in_runtime = rt.enter();
                    multipart.write(&self.buffer);
                }
                rt.block_on(multipart.finish()).map_err(|e| self.error(e))?;
            }
        }
        Ok(self.written)
    }

    /// Gives up the file: aborts a multipart upload (nothing was visible yet).
    pub fn abort(mut self) {
        if let Some(multipart) = self.multipart.take() {
            let _ = runtime().block_on(multipart.abort());
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        self.written += buf.len() as u64;
        if self.buffer.len() >= PART_SIZE {
            self.flush_parts().map_err(std::io::Error::other)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
