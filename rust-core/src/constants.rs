//! Constants published in `pyhost.h`. cbindgen emits constants only from this
//! crate, so they are restated here and checked against `pyhost-abi` at
//! compile time.

use pyhost_abi::batch;

/// The ABI version of this header; compare with `pyhost_abi_version()`.
pub const PYHOST_ABI_VERSION: u32 = 2;

/// First four bytes of every batch ("PHB1", little-endian).
pub const PYHOST_BATCH_MAGIC: u32 = 0x3142_4850;
/// Batch record: a metric.
pub const PYHOST_BATCH_METRIC: u8 = 1;
/// Batch record: a service check.
pub const PYHOST_BATCH_SERVICE_CHECK: u8 = 2;
/// Batch record: an event, as a JSON object.
pub const PYHOST_BATCH_EVENT: u8 = 3;
/// Batch record: a warning from the check.
pub const PYHOST_BATCH_WARNING: u8 = 4;
/// Batch record: the exception the run raised.
pub const PYHOST_BATCH_ERROR: u8 = 5;
/// Batch record: the run was cancelled.
pub const PYHOST_BATCH_CANCELLED: u8 = 6;
/// Batch record: one bucket of a histogram read as buckets.
pub const PYHOST_BATCH_HISTOGRAM_BUCKET: u8 = 7;
/// Batch record: an event for the event platform (e.g. database monitoring).
pub const PYHOST_BATCH_PLATFORM_EVENT: u8 = 8;
/// Batch record: a check metadata value (`set_metadata`).
pub const PYHOST_BATCH_METADATA: u8 = 9;
/// Batch record: external host tags, as JSON.
pub const PYHOST_BATCH_EXTERNAL_TAGS: u8 = 10;
/// In a metric record, a length or count meaning "the same as the previous
/// metric's" name, hostname or tag list.
pub const PYHOST_BATCH_SAME: u32 = 0xFFFF_FFFF;

const _: () = {
    assert!(PYHOST_ABI_VERSION == pyhost_abi::PYHOST_ABI_VERSION);
    assert!(PYHOST_BATCH_MAGIC == batch::PYHOST_BATCH_MAGIC);
    assert!(PYHOST_BATCH_METRIC == batch::PYHOST_BATCH_METRIC);
    assert!(PYHOST_BATCH_SERVICE_CHECK == batch::PYHOST_BATCH_SERVICE_CHECK);
    assert!(PYHOST_BATCH_EVENT == batch::PYHOST_BATCH_EVENT);
    assert!(PYHOST_BATCH_WARNING == batch::PYHOST_BATCH_WARNING);
    assert!(PYHOST_BATCH_ERROR == batch::PYHOST_BATCH_ERROR);
    assert!(PYHOST_BATCH_CANCELLED == batch::PYHOST_BATCH_CANCELLED);
    assert!(PYHOST_BATCH_HISTOGRAM_BUCKET == batch::PYHOST_BATCH_HISTOGRAM_BUCKET);
    assert!(PYHOST_BATCH_PLATFORM_EVENT == batch::PYHOST_BATCH_PLATFORM_EVENT);
    assert!(PYHOST_BATCH_METADATA == batch::PYHOST_BATCH_METADATA);
    assert!(PYHOST_BATCH_EXTERNAL_TAGS == batch::PYHOST_BATCH_EXTERNAL_TAGS);
    assert!(PYHOST_BATCH_SAME == batch::PYHOST_BATCH_SAME);
};
