//! The batch a check run hands to the host in one piece: every metric,
//! service check, event, warning and error the run produced, in submission
//! order. Little-endian; strings are a `u32` length then UTF-8 bytes.
//!
//! ```text
//! batch   := PYHOST_BATCH_MAGIC:u32 record*
//! (record kinds are the PYHOST_BATCH_* constants)
//! record  := METRIC        mtype:u8 flush_first:u8 value:f64 name:str hostname:str tags
//!          | SERVICE_CHECK status:u8 name:str hostname:str message:str tags
//!          | EVENT         json:str
//!          | WARNING       text:str
//!          | ERROR         type:str message:str traceback:str
//!          | CANCELLED
//! tags    := count:u32 str*
//! ```

/// "PHB1" read as a little-endian u32.
pub const PYHOST_BATCH_MAGIC: u32 = 0x3142_4850;

pub const PYHOST_BATCH_METRIC: u8 = 1;
pub const PYHOST_BATCH_SERVICE_CHECK: u8 = 2;
pub const PYHOST_BATCH_EVENT: u8 = 3;
pub const PYHOST_BATCH_WARNING: u8 = 4;
pub const PYHOST_BATCH_ERROR: u8 = 5;
pub const PYHOST_BATCH_CANCELLED: u8 = 6;

/// Appends records to a batch buffer.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    pub fn new() -> Writer {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&PYHOST_BATCH_MAGIC.to_le_bytes());
        Writer { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == 4
    }

    /// Takes the finished batch and leaves an empty one in its place.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(self).buf
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Current length, to roll back a record that failed half-way.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    pub fn rollback(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    /// Overwrites a `u32` written earlier at `at` (a tag count known only
    /// after the tags were written).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn warning(&mut self, text: &str) {
        self.u8(PYHOST_BATCH_WARNING);
        self.str(text);
    }

    pub fn error(&mut self, type_name: &str, message: &str, traceback: &str) {
        self.u8(PYHOST_BATCH_ERROR);
        self.str(type_name);
        self.str(message);
        self.str(traceback);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roll_back_and_counts_patch() {
        let mut w = Writer::new();
        assert!(w.is_empty());
        w.warning("first");
        let mark = w.mark();
        w.u8(PYHOST_BATCH_METRIC);
        w.str("half-written");
        w.rollback(mark);
        let at = w.mark();
        w.u32(0);
        w.str("a");
        w.str("b");
        w.patch_u32(at, 2);
        let batch = w.take();
        assert!(w.is_empty(), "take leaves a fresh batch");
        assert_eq!(&batch[..4], &PYHOST_BATCH_MAGIC.to_le_bytes());
        assert_eq!(&batch[..4], b"PHB1");
        let mut expected = PYHOST_BATCH_MAGIC.to_le_bytes().to_vec();
        expected.push(PYHOST_BATCH_WARNING);
        expected.extend_from_slice(&5u32.to_le_bytes());
        expected.extend_from_slice(b"first");
        expected.extend_from_slice(&2u32.to_le_bytes());
        for s in ["a", "b"] {
            expected.extend_from_slice(&1u32.to_le_bytes());
            expected.extend_from_slice(s.as_bytes());
        }
        assert_eq!(batch, expected);
    }
}
