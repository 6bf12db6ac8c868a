//! The batch a check run hands to the host in one piece: every metric,
//! service check, event, warning and error the run produced, in submission
//! order. Little-endian; strings are a `u32` length then UTF-8 bytes.
//!
//! ```text
//! batch   := PYHOST_BATCH_MAGIC:u32 metric_count:u32 metric_tag_count:u32 record*
//! (record kinds are the PYHOST_BATCH_* constants)
//! record  := METRIC        mtype:u8 flush_first:u8 value:f64 name:str hostname:str tags
//!          | SERVICE_CHECK status:u8 name:str hostname:str message:str tags
//!          | EVENT         json:str
//!          | WARNING       text:str
//!          | ERROR         type:str message:str traceback:str
//!          | CANCELLED
//!          | HISTOGRAM_BUCKET name:str value:f64 lower_bound:f64 upper_bound:f64
//!                           monotonic:u8 hostname:str tags flush_first_value:u8
//!          | PLATFORM_EVENT event_type:str raw_event:str
//!          | METADATA      name:str value:str
//!          | EXTERNAL_TAGS json:str
//!          | USAGE         flags:u8 wall_ns:u64 cpu_ns:u64 gil_wait_ns:u64
//!                          allocated_bytes:u64 retained_bytes:u64
//! tags    := count:u32 str*
//! ```
//!
//! In a METRIC record, a name, hostname or tag count equal to
//! `PYHOST_BATCH_SAME` means "the same as the previous metric's" (checks
//! submit the same names and tag lists over and over); no bytes follow it.
//! Only METRIC records count in the header.

/// "PHB1" read as a little-endian u32.
pub const PYHOST_BATCH_MAGIC: u32 = 0x3142_4850;

pub const PYHOST_BATCH_METRIC: u8 = 1;
pub const PYHOST_BATCH_SERVICE_CHECK: u8 = 2;
pub const PYHOST_BATCH_EVENT: u8 = 3;
pub const PYHOST_BATCH_WARNING: u8 = 4;
pub const PYHOST_BATCH_ERROR: u8 = 5;
pub const PYHOST_BATCH_CANCELLED: u8 = 6;
pub const PYHOST_BATCH_HISTOGRAM_BUCKET: u8 = 7;
pub const PYHOST_BATCH_PLATFORM_EVENT: u8 = 8;
pub const PYHOST_BATCH_METADATA: u8 = 9;
pub const PYHOST_BATCH_EXTERNAL_TAGS: u8 = 10;
pub const PYHOST_BATCH_USAGE: u8 = 11;
pub const PYHOST_USAGE_CPU_EXACT: u8 = 1;
pub const PYHOST_USAGE_MEMORY: u8 = 2;
/// A length or count meaning "the same as the previous metric's".
pub const PYHOST_BATCH_SAME: u32 = u32::MAX;

/// Byte equality for the short strings of a metric, inline: a libc memcmp
/// call per field measured slower than the whole rest of a submission.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if u64::from_ne_bytes(p.try_into().unwrap()) != u64::from_ne_bytes(q.try_into().unwrap()) {
            return false;
        }
    }
    x.remainder()
        .iter()
        .zip(y.remainder())
        .fold(true, |eq, (p, q)| eq & (p == q))
}

/// What one run cost, as a USAGE record carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `PYHOST_USAGE_*` bits.
    pub flags: u8,
    /// From asking for the GIL to the end of the run.
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub gil_wait_ns: u64,
    /// Python memory allocated during the run.
    pub allocated_bytes: u64,
    /// Python memory the check's runs allocated and that is alive now.
    pub retained_bytes: u64,
}

/// Appends records to a batch buffer. The header counts (metrics, and tags
/// over all metrics) let the reader allocate once. The buffer is allocated
/// at the first record: a check between runs holds none, however large its
/// last batch was.
#[derive(Debug)]
pub struct Writer {
    /// Empty until the first record, then the header and the records.
    buf: Vec<u8>,
    /// How many bytes to allocate at the first record (the previous batch's
    /// size, so a large batch does not regrow on every run).
    hint: usize,
    metrics: u32,
    metric_tags: u32,
    /// Where the previous metric's name, hostname and tag list are in `buf`.
    prev: [Option<(usize, usize)>; 3],
}

/// The metric fields that can repeat the previous metric's.
#[derive(Clone, Copy)]
pub enum Repeatable {
    Name = 0,
    Hostname = 1,
    Tags = 2,
}

const HEADER_LEN: usize = 12;
/// The smallest allocation a batch starts with.
const FIRST_CAPACITY: usize = 256;

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    pub const fn new() -> Writer {
        Writer::with_capacity(FIRST_CAPACITY)
    }

    /// A fresh batch that will allocate room for `capacity` bytes at its
    /// first record.
    pub const fn with_capacity(capacity: usize) -> Writer {
        Writer {
            buf: Vec::new(),
            hint: capacity,
            metrics: 0,
            metric_tags: 0,
            prev: [None; 3],
        }
    }

    /// The buffer, begun (allocated, header written) if it was not yet.
    #[inline(always)]
    fn out(&mut self) -> &mut Vec<u8> {
        if self.buf.is_empty() {
            self.begin();
        }
        &mut self.buf
    }

    #[cold]
    #[inline(never)]
    fn begin(&mut self) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(self.hint.max(FIRST_CAPACITY));
        }
        self.buf
            .extend_from_slice(&PYHOST_BATCH_MAGIC.to_le_bytes());
        self.buf.extend_from_slice(&[0; HEADER_LEN - 4]);
    }

    /// Writes a metric's name or hostname, or SAME if it equals the previous
    /// metric's.
    #[inline]
    pub fn metric_str(&mut self, field: Repeatable, s: &str) {
        if let Some((at, len)) = self.prev[field as usize] {
            if same_bytes(&self.buf[at..at + len], s.as_bytes()) {
                self.u32(PYHOST_BATCH_SAME);
                return;
            }
        }
        self.u32(s.len() as u32);
        self.prev[field as usize] = Some((self.buf.len(), s.len()));
        self.buf.extend_from_slice(s.as_bytes()); // begun by the length
    }

    /// The previous metric's encoded tag list (count, then strings), if any.
    #[inline]
    pub fn prev_tags(&self) -> Option<&[u8]> {
        self.prev[Repeatable::Tags as usize].map(|(at, len)| &self.buf[at..at + len])
    }

    /// Records that a metric's tag list was written in full from `start`.
    #[inline]
    pub fn remember_tags(&mut self, start: usize) {
        self.prev[Repeatable::Tags as usize] = Some((start, self.buf.len() - start));
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_LEN
    }

    /// Takes the finished batch (a header alone if nothing was written) and
    /// leaves an empty one in its place.
    pub fn take(&mut self) -> Vec<u8> {
        let (metrics, tags) = (self.metrics, self.metric_tags);
        if self.buf.is_empty() {
            // Nothing written: a header alone, without the first record's room.
            self.buf.reserve_exact(HEADER_LEN);
            self.begin();
        }
        let next = Writer::with_capacity(self.buf.len());
        let mut buf = std::mem::replace(self, next).buf;
        buf[4..8].copy_from_slice(&metrics.to_le_bytes());
        buf[8..12].copy_from_slice(&tags.to_le_bytes());
        buf
    }

    /// Counts a metric record written completely (with `tags` tags).
    #[inline]
    pub fn count_metric(&mut self, tags: u32) {
        self.metrics += 1;
        self.metric_tags += tags;
    }

    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.out().push(v);
    }

    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.out().extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.out().extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes()); // begun by the length
    }

    /// Current length, to roll back a record that failed half-way.
    #[inline]
    pub fn mark(&mut self) -> usize {
        self.out().len()
    }

    #[inline]
    pub fn rollback(&mut self, mark: usize) {
        self.buf.truncate(mark);
        for prev in &mut self.prev {
            if matches!(prev, Some((at, len)) if *at + *len > mark) {
                *prev = None;
            }
        }
    }

    /// Overwrites a `u32` written earlier at `at` (a tag count known only
    /// after the tags were written).
    #[inline]
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

    /// An event for the event platform; `raw_event` that is not UTF-8 is
    /// stored lossily.
    pub fn platform_event(&mut self, event_type: &str, raw_event: &[u8]) {
        self.u8(PYHOST_BATCH_PLATFORM_EVENT);
        self.str(event_type);
        self.str(&String::from_utf8_lossy(raw_event));
    }

    pub fn metadata(&mut self, name: &str, value: &str) {
        self.u8(PYHOST_BATCH_METADATA);
        self.str(name);
        self.str(value);
    }

    /// External host tags as JSON: `[[hostname, {source_type: [tags]}], ...]`.
    /// What the run cost: the last record of a batch.
    pub fn usage(&mut self, usage: &Usage) {
        self.u8(PYHOST_BATCH_USAGE);
        self.u8(usage.flags);
        for v in [
            usage.wall_ns,
            usage.cpu_ns,
            usage.gil_wait_ns,
            usage.allocated_bytes,
            usage.retained_bytes,
        ] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn external_tags(&mut self, json: &str) {
        self.u8(PYHOST_BATCH_EXTERNAL_TAGS);
        self.str(json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_writer_holds_no_buffer() {
        let mut w = Writer::new();
        assert_eq!(w.buf.capacity(), 0, "nothing allocated before a record");
        let empty = w.take();
        assert_eq!(empty.len(), HEADER_LEN, "an empty batch is a header");
        assert_eq!(empty.capacity(), HEADER_LEN, "and holds no more");
        assert_eq!(&empty[..4], &PYHOST_BATCH_MAGIC.to_le_bytes());
        for _ in 0..1000 {
            w.warning("a long batch");
        }
        let big = w.take();
        assert_eq!(
            w.buf.capacity(),
            0,
            "the next batch allocates at its first record"
        );
        w.warning("again");
        assert!(
            w.buf.capacity() >= big.len(),
            "and as much as the last batch took"
        );
        let at = w.mark();
        w.u32(0);
        w.patch_u32(at, 7);
        assert_eq!(&w.take()[at..at + 4], &7u32.to_le_bytes());
    }

    #[test]
    fn a_mark_before_the_first_record_points_past_the_header() {
        let mut w = Writer::new();
        let at = w.mark();
        assert_eq!(at, HEADER_LEN);
        w.u32(0);
        w.patch_u32(at, 3);
        w.rollback(at);
        assert!(w.is_empty());
        w.warning("kept");
        let batch = w.take();
        assert_eq!(batch[HEADER_LEN], PYHOST_BATCH_WARNING);
    }

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
        expected.extend_from_slice(&[0; 8]);
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

#[cfg(test)]
mod record_tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn new_records_encode_as_documented_and_are_not_metrics() {
        let mut w = Writer::new();
        w.platform_event("dbm-samples", b"{\"q\":1}\xff");
        w.metadata("version.raw", "1.2.3");
        w.external_tags(r#"[["h",{"vsphere":["a"]}]]"#);
        let batch = w.take();
        assert_eq!(&batch[4..12], &[0; 8], "no metric counted");
        let mut expected = Vec::new();
        expected.push(PYHOST_BATCH_PLATFORM_EVENT);
        string(&mut expected, "dbm-samples");
        string(&mut expected, "{\"q\":1}\u{fffd}");
        expected.push(PYHOST_BATCH_METADATA);
        string(&mut expected, "version.raw");
        string(&mut expected, "1.2.3");
        expected.push(PYHOST_BATCH_EXTERNAL_TAGS);
        string(&mut expected, r#"[["h",{"vsphere":["a"]}]]"#);
        assert_eq!(&batch[12..], &expected[..]);
    }
}

#[cfg(test)]
mod repeat_tests {
    use super::*;

    #[test]
    fn repeated_fields_become_same_markers() {
        let mut w = Writer::new();
        let tags = [
            1u8, 0, 0, 0, 8, 0, 0, 0, b'e', b'n', b'v', b':', b'p', b'r', b'o', b'd',
        ];
        for _ in 0..2 {
            w.metric_str(Repeatable::Name, "cpu");
            if w.prev_tags() == Some(&tags[..]) {
                w.u32(PYHOST_BATCH_SAME);
            } else {
                let start = w.mark();
                w.u32(1);
                w.str("env:prod");
                w.remember_tags(start);
            }
        }
        let batch = w.take();
        let same = PYHOST_BATCH_SAME.to_le_bytes();
        // header, "cpu", tags [env:prod], then SAME name and SAME tags.
        assert_eq!(&batch[batch.len() - 8..batch.len() - 4], &same);
        assert_eq!(&batch[batch.len() - 4..], &same);
        assert_eq!(batch.len(), 12 + (4 + 3) + (4 + 4 + 8) + 4 + 4);
    }

    #[test]
    fn a_rolled_back_field_is_not_repeated() {
        let mut w = Writer::new();
        let mark = w.mark();
        w.metric_str(Repeatable::Name, "gone");
        w.rollback(mark);
        w.metric_str(Repeatable::Name, "gone");
        let batch = w.take();
        assert_eq!(
            &batch[12..16],
            &4u32.to_le_bytes(),
            "written in full, not as SAME"
        );
    }
}
