//! Writing metrics and tag lists into a check's batch, under one of two sets
//! of rules, shared by the SDK's native `CheckBase` and the Datadog Agent's
//! `aggregator` functions.
//!
//! Tags are read as borrowed Python objects (a copy per tag costs 4–5× the
//! call). Everything that may run Python code (turning an arbitrary sequence
//! into a list, building an error message) happens before or after the
//! batch is borrowed, never inside.

use pyhost_abi::batch::{Repeatable, Writer, PYHOST_BATCH_METRIC, PYHOST_BATCH_SAME};
use pyhost_abi::pyhost_str;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::sinks;

/// How a submission treats bad data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rules {
    /// What the Datadog Agent's rtloader does: tags are any sequence, items
    /// that are not str are dropped, a tag ends at an embedded NUL (tags
    /// cross as C strings); bad values are dropped (a NaN becomes a
    /// warning) instead of raising.
    Lenient,
    /// What the pyhost SDK wants: tags are None, a list or a tuple of str;
    /// None is accepted for a hostname or message; bad data raises
    /// TypeError/ValueError, which the SDK turns into a warning.
    Strict,
}

/// A tag list that can be read without running Python code: a list or a
/// tuple (the caller's, or one made from another sequence), or nothing.
pub struct Tags<'a, 'py>(Seq<'a, 'py>);

enum Seq<'a, 'py> {
    Empty,
    Given(&'a Bound<'py, PyAny>),
    Made(Bound<'py, PyAny>),
}

/// Why a metric was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    Type,
    NotFinite,
    Tags,
    NameTooLong,
}

/// The longest metric name the agent takes, in bytes: a name is a label for
/// a series, and an unbounded one (a 10 MB string by mistake) would be
/// copied into every batch, series and scrape.
pub const MAX_METRIC_NAME_BYTES: usize = 4096;

/// One metric, its arguments already converted.
pub struct Metric<'a> {
    pub mtype: i64,
    pub name: &'a str,
    pub value: f64,
    pub hostname: &'a str,
    pub flush_first_value: bool,
}

enum Item<'a> {
    Keep(&'a str),
    Skip,
    Reject,
}

#[inline]
fn item<'a>(tag: &'a Bound<'_, PyAny>, rules: Rules) -> Item<'a> {
    let text = tag.cast::<PyString>().ok().and_then(|s| s.to_str().ok());
    match (text, rules) {
        (Some(t), Rules::Strict) => Item::Keep(t),
        // The agent copies tags as C strings: an embedded NUL ends one.
        (Some(t), Rules::Lenient) => Item::Keep(t.split('\0').next().unwrap_or("")),
        (None, Rules::Lenient) => Item::Skip,
        (None, Rules::Strict) => Item::Reject,
    }
}

impl<'a, 'py> Tags<'a, 'py> {
    /// Checks `tags` and, for the lenient rules, turns a sequence other than
    /// a list or tuple into a list (this may run Python code).
    #[inline]
    pub fn prepare(tags: &'a Bound<'py, PyAny>, rules: Rules) -> PyResult<Tags<'a, 'py>> {
        match rules {
            Rules::Strict => {
                if tags.is_none() {
                    Ok(Tags(Seq::Empty))
                } else if tags.is_instance_of::<PyList>() || tags.is_instance_of::<PyTuple>() {
                    Ok(Tags(Seq::Given(tags)))
                } else {
                    Err(PyTypeError::new_err(format!(
                        "tags must be a list or tuple of str, not {}",
                        type_name(tags)
                    )))
                }
            }
            Rules::Lenient => {
                if tags.is_exact_instance_of::<PyList>() || tags.is_exact_instance_of::<PyTuple>() {
                    return Ok(Tags(Seq::Given(tags)));
                }
                let py = tags.py();
                // SAFETY: plain C-API queries on a live object.
                unsafe {
                    if ffi::PySequence_Check(tags.as_ptr()) == 0 {
                        return Err(PyTypeError::new_err("tags must be a sequence"));
                    }
                    match ffi::PySequence_Size(tags.as_ptr()) {
                        -1 => {
                            drop(PyErr::fetch(py));
                            Err(PyRuntimeError::new_err("could not compute tags length"))
                        }
                        0 => Ok(Tags(Seq::Empty)),
                        _ => {
                            let list = ffi::PySequence_Fast(
                                tags.as_ptr(),
                                c"py_tags is not a sequence".as_ptr(),
                            );
                            Bound::from_owned_ptr_or_err(py, list).map(|l| Tags(Seq::Made(l)))
                        }
                    }
                }
            }
        }
    }

    #[inline]
    fn seq(&self) -> Option<&Bound<'py, PyAny>> {
        match &self.0 {
            Seq::Empty => None,
            Seq::Given(seq) => Some(seq),
            Seq::Made(seq) => Some(seq),
        }
    }

    /// Calls `f` with each tag kept; Err if the SDK rules reject an item.
    /// Runs no Python code.
    #[inline]
    pub fn for_each(&self, rules: Rules, mut f: impl FnMut(&str)) -> Result<u32, ()> {
        let Some(seq) = self.seq() else { return Ok(0) };
        let mut count = 0u32;
        let mut visit = |tag: Bound<'_, PyAny>| match item(&tag, rules) {
            Item::Keep(t) => {
                f(t);
                count += 1;
                Ok(())
            }
            Item::Skip => Ok(()),
            Item::Reject => Err(()),
        };
        if let Ok(list) = seq.cast::<PyList>() {
            list.iter().try_for_each(&mut visit)?;
        } else if let Ok(tuple) = seq.cast::<PyTuple>() {
            tuple.iter().try_for_each(&mut visit)?;
        }
        Ok(count)
    }

    /// Whether these tags encode to `prev` (a count, then strings). Anything
    /// unusual answers false and is handled by a full write.
    #[inline]
    fn same_as(&self, prev: &[u8], rules: Rules) -> bool {
        let read_u32 = |at: usize| {
            prev.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let Some(count) = read_u32(0) else {
            return false;
        };
        let Some(seq) = self.seq() else {
            return count == 0;
        };
        let mut at = 4;
        let mut matches = |tag: Bound<'_, PyAny>| -> bool {
            let Item::Keep(tag) = item(&tag, rules) else {
                return false;
            };
            let Some(len) = read_u32(at) else {
                return false;
            };
            let end = at + 4 + len as usize;
            let same = len as usize == tag.len() && prev.get(at + 4..end) == Some(tag.as_bytes());
            at = end;
            same
        };
        if let Ok(list) = seq.cast::<PyList>() {
            list.len() == count as usize && list.iter().all(&mut matches)
        } else if let Ok(tuple) = seq.cast::<PyTuple>() {
            tuple.len() == count as usize && tuple.iter().all(&mut matches)
        } else {
            false
        }
    }

    /// The error for tags the SDK rules rejected (may run Python code).
    pub fn rejection(&self) -> PyErr {
        let items: Vec<Bound<'py, PyAny>> = match self.seq() {
            Some(seq) => seq
                .try_iter()
                .map(|it| it.flatten().collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        for tag in items {
            match tag.cast::<PyString>() {
                Ok(s) => {
                    if let Err(e) = s.to_str() {
                        return e;
                    }
                }
                Err(_) => {
                    return PyTypeError::new_err(format!(
                        "tags must be str, not {}: {}",
                        type_name(&tag),
                        tag.repr()
                            .map(|r| r.to_string())
                            .unwrap_or_else(|_| "?".into())
                    ))
                }
            }
        }
        PyTypeError::new_err("tags must be str")
    }
}

/// Writes `tags` as a counted list; returns the count.
#[inline]
pub fn write_tags(w: &mut Writer, tags: &Tags<'_, '_>, rules: Rules) -> Result<u32, ()> {
    let at = w.mark();
    w.u32(0);
    let count = tags.for_each(rules, |t| w.str(t))?;
    w.patch_u32(at, count);
    Ok(count)
}

/// Writes one metric record, or nothing if it is rejected.
#[inline]
pub fn write_metric(
    w: &mut Writer,
    m: &Metric<'_>,
    tags: &Tags<'_, '_>,
    rules: Rules,
) -> Result<(), Reject> {
    check_metric(m)?;
    let mark = w.mark();
    w.u8(PYHOST_BATCH_METRIC);
    w.u8(m.mtype as u8);
    w.u8(u8::from(m.flush_first_value));
    w.f64(m.value);
    w.metric_str(Repeatable::Name, m.name);
    w.metric_str(Repeatable::Hostname, m.hostname);
    match write_metric_tags(w, tags, rules) {
        Ok(stored) => {
            w.count_metric(stored);
            Ok(())
        }
        Err(()) => {
            w.rollback(mark);
            Err(Reject::Tags)
        }
    }
}

#[inline]
fn check_metric(m: &Metric<'_>) -> Result<(), Reject> {
    if !(0..=6).contains(&m.mtype) {
        return Err(Reject::Type);
    }
    if !m.value.is_finite() {
        return Err(Reject::NotFinite);
    }
    if m.name.len() > MAX_METRIC_NAME_BYTES {
        return Err(Reject::NameTooLong);
    }
    Ok(())
}

/// Writes a metric's tags, or SAME when they equal the previous metric's
/// (compared before encoding: the usual case costs no writes). Returns how
/// many tags were stored.
#[inline]
fn write_metric_tags(w: &mut Writer, tags: &Tags<'_, '_>, rules: Rules) -> Result<u32, ()> {
    if let Some(prev) = w.prev_tags() {
        if tags.same_as(prev, rules) {
            w.u32(PYHOST_BATCH_SAME);
            return Ok(0);
        }
    }
    let start = w.mark();
    let count = write_tags(w, tags, rules)?;
    w.remember_tags(start);
    Ok(count)
}

/// Delivers a metric to its check's batch, or per metric to the host when
/// the runtime asked for that (comparison benchmarks only).
pub fn put_metric(
    py: Python<'_>,
    route: &sinks::Route,
    check_id: &str,
    m: &Metric<'_>,
    tags: &Tags<'_, '_>,
    rules: Rules,
) -> Result<(), Reject> {
    if let Some(callback) = route.session.metric_callback {
        check_metric(m)?;
        return deliver_one(
            callback,
            route.session.metric_context,
            check_id,
            m,
            tags,
            rules,
        );
    }
    // SAFETY: write_metric reads strings and lists in place and runs no Python code.
    unsafe { route.sink.with(py, |w| write_metric(w, m, tags, rules)) }
}

/// The SDK's error for a rejected metric (may run Python code).
pub fn rejection(reject: Reject, m: &Metric<'_>, tags: &Tags<'_, '_>) -> PyErr {
    match reject {
        Reject::Type => {
            PyValueError::new_err(format!("unknown metric type {} (expected 0..6)", m.mtype))
        }
        Reject::NotFinite => PyValueError::new_err(format!(
            "metric {:?} value {} is not finite",
            m.name, m.value
        )),
        Reject::Tags => tags.rejection(),
        Reject::NameTooLong => PyValueError::new_err(name_too_long(m)),
    }
}

/// What a too-long metric name becomes (a warning, or the SDK's ValueError),
/// showing only the name's start.
pub fn name_too_long(m: &Metric<'_>) -> String {
    let start: String = m.name.chars().take(64).collect();
    format!(
        "metric name {start:?}… is {} bytes long, more than the {MAX_METRIC_NAME_BYTES} the agent takes; dropped",
        m.name.len()
    )
}

/// The warning a non-finite value becomes under the lenient rules (worded
/// as the SDK words its own).
pub fn non_finite_warning(m: &Metric<'_>) -> String {
    let value = if m.value.is_nan() {
        "nan"
    } else if m.value > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    format!("Metric '{}' has non-finite value {value}; dropped", m.name)
}

/// The Datadog Agent's way, kept for comparison benchmarks: one call into
/// the host per metric, with every tag copied into a new array.
fn deliver_one(
    callback: unsafe extern "C" fn(
        usize,
        pyhost_str,
        i32,
        pyhost_str,
        f64,
        *const pyhost_str,
        usize,
        pyhost_str,
    ),
    context: usize,
    check_id: &str,
    m: &Metric<'_>,
    tags: &Tags<'_, '_>,
    rules: Rules,
) -> Result<(), Reject> {
    let mut owned: Vec<String> = Vec::new();
    tags.for_each(rules, |t| owned.push(t.to_owned()))
        .map_err(|()| Reject::Tags)?;
    let views: Vec<pyhost_str> = owned.iter().map(|t| pyhost_str::borrow(t)).collect();
    // SAFETY: the host registered this callback for these arguments; every
    // view outlives the call.
    unsafe {
        callback(
            context,
            pyhost_str::borrow(check_id),
            m.mtype as i32,
            pyhost_str::borrow(m.name),
            m.value,
            views.as_ptr(),
            views.len(),
            pyhost_str::borrow(m.hostname),
        )
    };
    Ok(())
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interpreter::{ensure_started, with_python};

    /// The tags `expr` encodes to under `rules`, or None if rejected.
    fn encoded(expr: &std::ffi::CStr, rules: Rules) -> PyResult<Option<Vec<String>>> {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let obj = py.eval(expr, None, None)?;
            let tags = Tags::prepare(&obj, rules)?;
            let mut out = Vec::new();
            Ok(tags
                .for_each(rules, |t| out.push(t.to_owned()))
                .ok()
                .map(|_| out))
        })
    }

    #[test]
    fn datadog_rules_keep_str_items_of_any_sequence() {
        let dd = |e| encoded(e, Rules::Lenient).unwrap().unwrap();
        assert_eq!(
            dd(c"['a:b', 42, None, b'c', 'x\\x00y', '\\udcff']"),
            ["a:b", "x"]
        );
        assert_eq!(dd(c"('t',)"), ["t"]);
        assert_eq!(dd(c"'ab'"), ["a", "b"]);
        assert_eq!(dd(c"[]"), Vec::<String>::new());
        for bad in [c"None", c"{'a': 1}", c"{'a'}", c"(t for t in 'a')"] {
            let err = encoded(bad, Rules::Lenient).unwrap_err();
            assert!(err.to_string().contains("tags must be a sequence"), "{err}");
        }
    }

    #[test]
    fn sdk_rules_reject_what_the_sdk_reports() {
        assert_eq!(encoded(c"None", Rules::Strict).unwrap(), Some(vec![]));
        assert_eq!(
            encoded(c"['a', 'b']", Rules::Strict).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(encoded(c"['a', 42]", Rules::Strict).unwrap(), None);
        assert!(encoded(c"'ab'", Rules::Strict).is_err());
    }

    #[test]
    fn a_repeated_tag_list_is_written_as_same() {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let obj = py.eval(c"['a:1', 'b:2']", None, None).unwrap();
            let tags = Tags::prepare(&obj, Rules::Lenient).unwrap();
            let m = Metric {
                mtype: 0,
                name: "m",
                value: 1.0,
                hostname: "",
                flush_first_value: false,
            };
            let mut w = Writer::new();
            write_metric(&mut w, &m, &tags, Rules::Lenient).unwrap();
            write_metric(&mut w, &m, &tags, Rules::Lenient).unwrap();
            let nan = Metric {
                value: f64::NAN,
                ..m
            };
            assert_eq!(
                write_metric(&mut w, &nan, &tags, Rules::Lenient),
                Err(Reject::NotFinite)
            );
            let batch = w.take();
            assert_eq!(&batch[4..8], &2u32.to_le_bytes(), "two metrics");
            assert_eq!(&batch[8..12], &2u32.to_le_bytes(), "two tags written out");
            assert_eq!(&batch[batch.len() - 4..], &PYHOST_BATCH_SAME.to_le_bytes());
        });
    }
}
