//! The value encoding: how typed values cross between the host and Python
//! without JSON text — arguments and results of Go functions Python calls,
//! of Python functions Go invokes, and the host state Go publishes.
//!
//! ```text
//! value := NONE | FALSE | TRUE
//!        | INT     i64
//!        | UINT    u64          (only above i64::MAX)
//!        | BIGINT  len:u32 digits  (an integer beyond 64 bits, ASCII decimal, optional '-')
//!        | FLOAT   f64          (finite: NaN and infinities are refused)
//!        | STR     len:u32 UTF-8 bytes
//!        | BYTES   len:u32 bytes
//!        | LIST    count:u32 value*
//!        | DICT    count:u32 (key value)*    key := len:u32 UTF-8 bytes
//! ```
//!
//! Little-endian; each value starts with its tag byte (the `PYHOST_VALUE_*`
//! constants). Nesting is limited to [`MAX_DEPTH`] lists and dicts, so a
//! decoder never recurses without bound (a cyclic value cannot be encoded).

/// No value: Python's None, Go's nil.
pub const PYHOST_VALUE_NONE: u8 = 0;
pub const PYHOST_VALUE_FALSE: u8 = 1;
pub const PYHOST_VALUE_TRUE: u8 = 2;
/// A signed 64-bit integer.
pub const PYHOST_VALUE_INT: u8 = 3;
/// An unsigned 64-bit integer above i64::MAX.
pub const PYHOST_VALUE_UINT: u8 = 4;
/// An integer beyond 64 bits, as decimal digits.
pub const PYHOST_VALUE_BIGINT: u8 = 5;
/// A finite 64-bit float.
pub const PYHOST_VALUE_FLOAT: u8 = 6;
/// A UTF-8 string.
pub const PYHOST_VALUE_STR: u8 = 7;
/// A byte string.
pub const PYHOST_VALUE_BYTES: u8 = 8;
/// A list of values.
pub const PYHOST_VALUE_LIST: u8 = 9;
/// A dict with string keys.
pub const PYHOST_VALUE_DICT: u8 = 10;

/// Not a value's tag: a `pyhost_direct_value` holding one encoded value.
pub const PYHOST_VALUE_ENCODED: u8 = 255;

/// How deep lists and dicts may nest.
pub const MAX_DEPTH: usize = 64;

/// Why a buffer is not a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownTag(u8),
    TooDeep,
    NotUtf8,
    NotFinite,
    BadInteger,
    Trailing,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "the value is cut short"),
            DecodeError::UnknownTag(t) => write!(f, "unknown value tag {t}"),
            DecodeError::TooDeep => write!(f, "lists and dicts nest deeper than {MAX_DEPTH}"),
            DecodeError::NotUtf8 => write!(f, "a string is not valid UTF-8"),
            DecodeError::NotFinite => write!(f, "a float is NaN or infinite"),
            DecodeError::BadInteger => write!(f, "a big integer is not decimal digits"),
            DecodeError::Trailing => write!(f, "bytes follow the value"),
        }
    }
}

/// Where an [`Encoder`] writes: a `Vec<u8>`, or a caller's buffer that
/// spills into one (see the engine's typed calls).
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn written(&self) -> usize;
    fn truncate_to(&mut self, len: usize);
    /// Overwrites already written bytes at `at`.
    fn patch(&mut self, at: usize, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn written(&self) -> usize {
        self.len()
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub struct Encoder<B: Sink = Vec<u8>> {
    pub buf: B,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }
}

impl<B: Sink> Encoder<B> {
    #[inline]
    fn tag(&mut self, tag: u8) {
        self.buf.put(&[tag]);
    }

    #[inline]
    pub fn none(&mut self) {
        self.tag(PYHOST_VALUE_NONE);
    }

    #[inline]
    pub fn bool(&mut self, b: bool) {
        self.tag(if b {
            PYHOST_VALUE_TRUE
        } else {
            PYHOST_VALUE_FALSE
        });
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        let mut b = [0u8; 9];
        b[0] = PYHOST_VALUE_INT;
        b[1..].copy_from_slice(&v.to_le_bytes());
        self.buf.put(&b);
    }

    pub fn uint(&mut self, v: u64) {
        match i64::try_from(v) {
            Ok(i) => self.int(i),
            Err(_) => {
                let mut b = [0u8; 9];
                b[0] = PYHOST_VALUE_UINT;
                b[1..].copy_from_slice(&v.to_le_bytes());
                self.buf.put(&b);
            }
        }
    }

    /// An integer beyond 64 bits, given as decimal digits.
    pub fn bigint(&mut self, digits: &str) {
        self.tag(PYHOST_VALUE_BIGINT);
        self.len_bytes(digits.as_bytes());
    }

    /// A float; false (and nothing written) if it is not finite.
    #[must_use]
    #[inline]
    pub fn float(&mut self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let mut b = [0u8; 9];
        b[0] = PYHOST_VALUE_FLOAT;
        b[1..].copy_from_slice(&v.to_le_bytes());
        self.buf.put(&b);
        true
    }

    #[inline]
    pub fn str(&mut self, s: &str) {
        self.tag(PYHOST_VALUE_STR);
        self.len_bytes(s.as_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.tag(PYHOST_VALUE_BYTES);
        self.len_bytes(b);
    }

    /// Starts a list of `count` values (which follow).
    #[inline]
    pub fn list(&mut self, count: u32) {
        self.header(PYHOST_VALUE_LIST, count);
    }

    /// Starts a dict of `count` entries (each a [`Encoder::key`] then a value).
    #[inline]
    pub fn dict(&mut self, count: u32) {
        self.header(PYHOST_VALUE_DICT, count);
    }

    #[inline]
    fn header(&mut self, tag: u8, count: u32) {
        let mut b = [0u8; 5];
        b[0] = tag;
        b[1..].copy_from_slice(&count.to_le_bytes());
        self.buf.put(&b);
    }

    #[inline]
    pub fn key(&mut self, k: &str) {
        self.len_bytes(k.as_bytes());
    }

    /// Where the next write goes, to patch a count or roll back.
    pub fn mark(&self) -> usize {
        self.buf.written()
    }

    pub fn rollback(&mut self, mark: usize) {
        self.buf.truncate_to(mark);
    }

    /// Rewrites the count of the list or dict started at `mark`.
    pub fn patch_count(&mut self, mark: usize, count: u32) {
        self.buf.patch(mark + 1, &count.to_le_bytes());
    }

    #[inline]
    fn len_bytes(&mut self, b: &[u8]) {
        self.buf.put(&(b.len() as u32).to_le_bytes());
        self.buf.put(b);
    }
}

/// One step of reading a value: a scalar, or the start of a list or dict
/// whose items follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    None,
    Bool(bool),
    Int(i64),
    Uint(u64),
    BigInt(&'a str),
    Float(f64),
    Str(&'a str),
    /// A string not yet checked for UTF-8 (only from a decoder made with
    /// [`Decoder::unchecked_text`], for a consumer that checks it anyway).
    RawStr(&'a [u8]),
    Bytes(&'a [u8]),
    List(u32),
    Dict(u32),
}

/// Reads values from a buffer, one item at a time; every length and count
/// is checked against what is left, so a corrupt buffer is an error, never
/// a large allocation or an out-of-bounds read.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    b: &'a [u8],
    at: usize,
    check_text: bool,
}

impl<'a> Decoder<'a> {
    pub fn new(b: &'a [u8]) -> Decoder<'a> {
        Decoder {
            b,
            at: 0,
            check_text: true,
        }
    }

    /// A decoder that hands strings over as [`Item::RawStr`], unchecked:
    /// for a consumer that checks UTF-8 itself as it copies the bytes (as
    /// CPython does making a `str`), so the check is not done twice.
    pub fn unchecked_text(b: &'a [u8]) -> Decoder<'a> {
        Decoder {
            b,
            at: 0,
            check_text: false,
        }
    }

    /// A dict key's bytes, not checked for UTF-8 (see
    /// [`Decoder::unchecked_text`]).
    pub fn key_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        self.len_bytes()
    }

    /// How far the decoder has read.
    pub fn position(&self) -> usize {
        self.at
    }

    pub fn is_done(&self) -> bool {
        self.at == self.b.len()
    }

    /// Fails unless the whole buffer was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn len_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.len_bytes()?).map_err(|_| DecodeError::NotUtf8)
    }

    /// A dict key.
    pub fn key(&mut self) -> Result<&'a str, DecodeError> {
        self.text()
    }

    /// The next item. For a list or dict, its items (for a dict, a key
    /// then a value each) follow; a count larger than the bytes left could
    /// hold is refused here.
    pub fn item(&mut self) -> Result<Item<'a>, DecodeError> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            PYHOST_VALUE_NONE => Item::None,
            PYHOST_VALUE_FALSE => Item::Bool(false),
            PYHOST_VALUE_TRUE => Item::Bool(true),
            PYHOST_VALUE_INT => Item::Int(self.u64()? as i64),
            PYHOST_VALUE_UINT => Item::Uint(self.u64()?),
            PYHOST_VALUE_BIGINT => {
                let digits = self.text()?;
                let body = digits.strip_prefix('-').unwrap_or(digits);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(DecodeError::BadInteger);
                }
                Item::BigInt(digits)
            }
            PYHOST_VALUE_FLOAT => {
                let v = f64::from_bits(self.u64()?);
                if !v.is_finite() {
                    return Err(DecodeError::NotFinite);
                }
                Item::Float(v)
            }
            PYHOST_VALUE_STR if self.check_text => Item::Str(self.text()?),
            PYHOST_VALUE_STR => Item::RawStr(self.len_bytes()?),
            PYHOST_VALUE_BYTES => Item::Bytes(self.len_bytes()?),
            PYHOST_VALUE_LIST | PYHOST_VALUE_DICT => {
                let count = self.u32()?;
                // Each item takes at least one byte (a dict entry five).
                let per = if tag == PYHOST_VALUE_LIST { 1 } else { 5 };
                if (count as usize).saturating_mul(per) > self.b.len() - self.at {
                    return Err(DecodeError::Truncated);
                }
                if tag == PYHOST_VALUE_LIST {
                    Item::List(count)
                } else {
                    Item::Dict(count)
                }
            }
            t => return Err(DecodeError::UnknownTag(t)),
        })
    }

    /// Checks that a whole value follows, nesting included, and skips it.
    pub fn skip_value(&mut self) -> Result<(), DecodeError> {
        // An explicit stack of items left per open container: no recursion.
        let mut left: Vec<(u32, bool)> = Vec::new();
        loop {
            match self.item()? {
                Item::List(n) if n > 0 => {
                    if left.len() == MAX_DEPTH {
                        return Err(DecodeError::TooDeep);
                    }
                    left.push((n, false));
                    continue;
                }
                Item::Dict(n) if n > 0 => {
                    if left.len() == MAX_DEPTH {
                        return Err(DecodeError::TooDeep);
                    }
                    left.push((n, true));
                    self.key()?;
                    continue;
                }
                _ => {}
            }
            // One item of the innermost container is done; close the full ones.
            loop {
                let Some((n, is_dict)) = left.last_mut() else {
                    return Ok(());
                };
                if *n > 1 {
                    *n -= 1;
                    if *is_dict {
                        self.key()?;
                    }
                    break;
                }
                left.pop();
            }
        }
    }
}

/// Checks that `b` is exactly one well-formed value.
pub fn validate(b: &[u8]) -> Result<(), DecodeError> {
    let mut d = Decoder::new(b);
    d.skip_value()?;
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_encodes_as_documented() {
        let mut e = Encoder::new();
        e.dict(2);
        e.key("a");
        e.list(3);
        e.int(-2);
        e.uint(u64::MAX);
        assert!(e.float(1.5));
        e.key("b");
        e.str("é");
        let b = e.buf;
        assert_eq!(b[0], PYHOST_VALUE_DICT);
        assert_eq!(&b[1..5], &2u32.to_le_bytes());
        assert_eq!(&b[5..10], &[1, 0, 0, 0, b'a']);
        assert_eq!(b[10], PYHOST_VALUE_LIST);
        validate(&b).unwrap();
        for cut in 0..b.len() {
            assert!(validate(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn bad_buffers_are_errors() {
        assert_eq!(validate(&[99]), Err(DecodeError::UnknownTag(99)));
        let mut nan = vec![PYHOST_VALUE_FLOAT];
        nan.extend_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(validate(&nan), Err(DecodeError::NotFinite));
        assert_eq!(
            validate(&[PYHOST_VALUE_LIST, 255, 255, 255, 255]),
            Err(DecodeError::Truncated)
        );
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(&[PYHOST_VALUE_LIST, 1, 0, 0, 0]);
        }
        deep.push(PYHOST_VALUE_NONE);
        assert_eq!(validate(&deep), Err(DecodeError::TooDeep));
        assert_eq!(
            validate(&[PYHOST_VALUE_NONE, PYHOST_VALUE_NONE]),
            Err(DecodeError::Trailing)
        );
        let mut e = Encoder::new();
        e.bigint("12x");
        assert_eq!(validate(&e.buf), Err(DecodeError::BadInteger));
        assert!(!Encoder::new().float(f64::INFINITY));
    }
}
