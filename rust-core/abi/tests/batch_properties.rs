//! Properties of the batch format: whatever records a run writes, with
//! some of them rolled back half-way (a submission that failed), the batch
//! decodes to exactly the records kept, in order, with header counts that
//! match; and a decoder given a cut or corrupted batch fails, never panics.

use proptest::prelude::*;
use pyhost_abi::batch::*;

/// One record as a run submits it.
#[derive(Clone, Debug, PartialEq)]
enum Record {
    Metric {
        mtype: u8,
        value: f64,
        name: String,
        hostname: String,
        tags: Vec<String>,
    },
    Warning(String),
    Error(String, String, String),
    Metadata(String, String),
}

fn text() -> impl Strategy<Value = String> {
    // Few distinct values, so names, hostnames and tag lists repeat (SAME).
    prop_oneof![
        Just(String::new()),
        Just("cpu".to_owned()),
        Just("mem".to_owned()),
        "\\PC{0,12}",
    ]
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        4 => (0u8..7, any::<f64>().prop_filter("finite", |v| v.is_finite()), text(), text(),
              prop::collection::vec(text(), 0..4))
            .prop_map(|(mtype, value, name, hostname, tags)| Record::Metric { mtype, value, name, hostname, tags }),
        1 => text().prop_map(Record::Warning),
        1 => (text(), text(), text()).prop_map(|(a, b, c)| Record::Error(a, b, c)),
        1 => (text(), text()).prop_map(|(a, b)| Record::Metadata(a, b)),
    ]
}

/// Writes a record as the engine does; `abort` stops half-way and rolls
/// back, as a submission that fails does.
fn write(w: &mut Writer, r: &Record, abort: bool) {
    let mark = w.mark();
    match r {
        Record::Metric {
            mtype,
            value,
            name,
            hostname,
            tags,
        } => {
            w.u8(PYHOST_BATCH_METRIC);
            w.u8(*mtype);
            w.u8(0);
            w.f64(*value);
            w.metric_str(Repeatable::Name, name);
            w.metric_str(Repeatable::Hostname, hostname);
            if abort {
                w.rollback(mark);
                return;
            }
            let mut encoded = Vec::new();
            encoded.extend_from_slice(&(tags.len() as u32).to_le_bytes());
            for t in tags {
                encoded.extend_from_slice(&(t.len() as u32).to_le_bytes());
                encoded.extend_from_slice(t.as_bytes());
            }
            if w.prev_tags() == Some(&encoded[..]) {
                w.u32(PYHOST_BATCH_SAME);
                w.count_metric(0);
            } else {
                let start = w.mark();
                w.u32(tags.len() as u32);
                for t in tags {
                    w.str(t);
                }
                w.remember_tags(start);
                w.count_metric(tags.len() as u32);
            }
        }
        Record::Warning(t) => w.warning(t),
        Record::Error(a, b, c) => {
            if abort {
                w.u8(PYHOST_BATCH_ERROR);
                w.str(a);
                w.rollback(mark);
                return;
            }
            w.error(a, b, c)
        }
        Record::Metadata(a, b) => w.metadata(a, b),
    }
}

/// Reads a batch back, following the grammar in `batch.rs`.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    prev: [Option<String>; 2],
    prev_tags: Option<Vec<String>>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str_of_len(&mut self, n: u32) -> Option<String> {
        String::from_utf8(self.take(n as usize)?.to_vec()).ok()
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()?;
        self.str_of_len(n)
    }
    fn metric_str(&mut self, field: usize) -> Option<String> {
        let n = self.u32()?;
        if n == PYHOST_BATCH_SAME {
            return self.prev[field].clone();
        }
        let s = self.str_of_len(n)?;
        self.prev[field] = Some(s.clone());
        Some(s)
    }
}

/// The records and the header's (metric count, tag count), or None if the
/// batch is malformed.
fn decode(b: &[u8]) -> Option<(Vec<Record>, u32, u32)> {
    let mut r = Reader {
        b,
        at: 0,
        prev: [None, None],
        prev_tags: None,
    };
    if r.u32()? != PYHOST_BATCH_MAGIC {
        return None;
    }
    let (metrics, tags) = (r.u32()?, r.u32()?);
    let mut out = Vec::new();
    while r.at < b.len() {
        out.push(match r.u8()? {
            PYHOST_BATCH_METRIC => {
                let mtype = r.u8()?;
                r.u8()?;
                let value = r.f64()?;
                let name = r.metric_str(0)?;
                let hostname = r.metric_str(1)?;
                let count = r.u32()?;
                let tags = if count == PYHOST_BATCH_SAME {
                    r.prev_tags.clone()?
                } else {
                    let t = (0..count).map(|_| r.str()).collect::<Option<Vec<_>>>()?;
                    r.prev_tags = Some(t.clone());
                    t
                };
                Record::Metric {
                    mtype,
                    value,
                    name,
                    hostname,
                    tags,
                }
            }
            PYHOST_BATCH_WARNING => Record::Warning(r.str()?),
            PYHOST_BATCH_ERROR => Record::Error(r.str()?, r.str()?, r.str()?),
            PYHOST_BATCH_METADATA => Record::Metadata(r.str()?, r.str()?),
            _ => return None,
        });
    }
    Some((out, metrics, tags))
}

proptest! {
    #[test]
    fn a_batch_decodes_to_the_records_kept(ops in prop::collection::vec((record(), prop::bool::weighted(0.2)), 0..40)) {
        let mut w = Writer::new();
        let mut kept = Vec::new();
        for (r, abort) in &ops {
            let abort = *abort && matches!(r, Record::Metric { .. } | Record::Error(..));
            write(&mut w, r, abort);
            if !abort {
                kept.push(r.clone());
            }
        }
        let batch = w.take();
        let (records, metrics, tags) = decode(&batch).expect("a batch the writer made decodes");
        prop_assert_eq!(&records, &kept);
        let metric_records: Vec<_> = kept.iter().filter_map(|r| match r {
            Record::Metric { tags, .. } => Some(tags.len()),
            _ => None,
        }).collect();
        prop_assert_eq!(metrics as usize, metric_records.len());
        // SAME tag lists count no stored tags: the count is at most the sum.
        prop_assert!(tags as usize <= metric_records.iter().sum::<usize>());
        // The writer is ready for the next run: empty, and it forgets the
        // previous batch's names (no SAME pointing into a batch gone).
        prop_assert!(w.is_empty());
        prop_assert!(w.prev_tags().is_none());
    }

    #[test]
    fn a_cut_or_corrupted_batch_never_panics(ops in prop::collection::vec(record(), 1..10), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let mut w = Writer::new();
        for r in &ops {
            write(&mut w, r, false);
        }
        let mut batch = w.take();
        let n = batch.len();
        let i = flip.0.index(n);
        batch[i] ^= flip.1;
        let _ = decode(&batch);
        let _ = decode(&batch[..cut.index(n)]);
    }
}
