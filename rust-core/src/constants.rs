//! Constants published in `pyhost.h`. cbindgen emits constants only from this
//! crate, so they are restated here and checked against `pyhost-abi` at
//! compile time.

use pyhost_abi::{batch, value};

/// The ABI version of this header; compare with `pyhost_abi_version()`.
pub const PYHOST_ABI_VERSION: u32 = 6;

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
/// Batch record: what the run cost (see `docs/c-api.md`); last in a batch,
/// present when the runtime's accounting is on.
pub const PYHOST_BATCH_USAGE: u8 = 11;
/// In a USAGE record's flags: the CPU time was read from the thread's CPU
/// clock (else it is the run's time holding the GIL).
pub const PYHOST_USAGE_CPU_EXACT: u8 = 1;
/// In a USAGE record's flags: Python memory is counted.
pub const PYHOST_USAGE_MEMORY: u8 = 2;
/// In a metric record, a length or count meaning "the same as the previous
/// metric's" name, hostname or tag list.
pub const PYHOST_BATCH_SAME: u32 = 0xFFFF_FFFF;

/// Value encoding (see `docs/c-api.md`): each value starts with one of
/// these tags. None.
pub const PYHOST_VALUE_NONE: u8 = 0;
/// False.
pub const PYHOST_VALUE_FALSE: u8 = 1;
/// True.
pub const PYHOST_VALUE_TRUE: u8 = 2;
/// A signed 64-bit integer: 8 bytes, little-endian.
pub const PYHOST_VALUE_INT: u8 = 3;
/// An unsigned 64-bit integer above INT64_MAX: 8 bytes.
pub const PYHOST_VALUE_UINT: u8 = 4;
/// An integer beyond 64 bits: a u32 length, then ASCII decimal digits.
pub const PYHOST_VALUE_BIGINT: u8 = 5;
/// A finite double: 8 bytes.
pub const PYHOST_VALUE_FLOAT: u8 = 6;
/// A string: a u32 length, then UTF-8 bytes.
pub const PYHOST_VALUE_STR: u8 = 7;
/// A byte string: a u32 length, then the bytes.
pub const PYHOST_VALUE_BYTES: u8 = 8;
/// A list: a u32 count, then that many values.
pub const PYHOST_VALUE_LIST: u8 = 9;
/// A dict: a u32 count, then that many (key, value) pairs; a key is a u32
/// length and UTF-8 bytes.
pub const PYHOST_VALUE_DICT: u8 = 10;
/// Not a value's tag: a `pyhost_direct_value` that holds one encoded value.
pub const PYHOST_VALUE_ENCODED: u8 = 255;
/// How deep lists and dicts may nest in one value.
pub const PYHOST_VALUE_MAX_DEPTH: u32 = 64;

const _: () = {
    assert!(PYHOST_ABI_VERSION == pyhost_abi::PYHOST_ABI_VERSION);
    assert!(PYHOST_BATCH_MAGIC == batch::PYHOST_BATCH_MAGIC);
    assert!(PYHOST_VALUE_NONE == value::PYHOST_VALUE_NONE);
    assert!(PYHOST_VALUE_FALSE == value::PYHOST_VALUE_FALSE);
    assert!(PYHOST_VALUE_TRUE == value::PYHOST_VALUE_TRUE);
    assert!(PYHOST_VALUE_INT == value::PYHOST_VALUE_INT);
    assert!(PYHOST_VALUE_UINT == value::PYHOST_VALUE_UINT);
    assert!(PYHOST_VALUE_BIGINT == value::PYHOST_VALUE_BIGINT);
    assert!(PYHOST_VALUE_FLOAT == value::PYHOST_VALUE_FLOAT);
    assert!(PYHOST_VALUE_STR == value::PYHOST_VALUE_STR);
    assert!(PYHOST_VALUE_BYTES == value::PYHOST_VALUE_BYTES);
    assert!(PYHOST_VALUE_LIST == value::PYHOST_VALUE_LIST);
    assert!(PYHOST_VALUE_DICT == value::PYHOST_VALUE_DICT);
    assert!(PYHOST_VALUE_ENCODED == value::PYHOST_VALUE_ENCODED);
    assert!(PYHOST_VALUE_MAX_DEPTH as usize == value::MAX_DEPTH);
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
    assert!(PYHOST_BATCH_USAGE == batch::PYHOST_BATCH_USAGE);
    assert!(PYHOST_USAGE_CPU_EXACT == batch::PYHOST_USAGE_CPU_EXACT);
    assert!(PYHOST_USAGE_MEMORY == batch::PYHOST_USAGE_MEMORY);
    assert!(PYHOST_BATCH_SAME == batch::PYHOST_BATCH_SAME);
};
