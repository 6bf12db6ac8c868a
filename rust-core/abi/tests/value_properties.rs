//! Properties of the value encoding: any value tree encodes and decodes back
//! to itself, whatever its nesting (up to the limit); a cut or corrupted
//! buffer is an error from the validator, never a panic.

use proptest::prelude::*;
use pyhost_abi::value::*;

#[derive(Clone, Debug, PartialEq)]
enum V {
    None,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Big(String),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<V>),
    Dict(Vec<(String, V)>),
}

fn leaf() -> impl Strategy<Value = V> {
    prop_oneof![
        Just(V::None),
        any::<bool>().prop_map(V::Bool),
        any::<i64>().prop_map(V::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(V::Uint),
        "-?[1-9][0-9]{19,40}".prop_map(V::Big),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(V::Float),
        "\\PC{0,8}".prop_map(V::Str),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(V::Bytes),
    ]
}

fn value() -> impl Strategy<Value = V> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(V::List),
            prop::collection::vec(("\\PC{0,6}", inner), 0..6).prop_map(V::Dict),
        ]
    })
}

fn encode(e: &mut Encoder, v: &V) {
    match v {
        V::None => e.none(),
        V::Bool(b) => e.bool(*b),
        V::Int(i) => e.int(*i),
        V::Uint(u) => e.uint(*u),
        V::Big(d) => e.bigint(d),
        V::Float(f) => assert!(e.float(*f)),
        V::Str(s) => e.str(s),
        V::Bytes(b) => e.bytes(b),
        V::List(items) => {
            e.list(items.len() as u32);
            items.iter().for_each(|i| encode(e, i));
        }
        V::Dict(entries) => {
            e.dict(entries.len() as u32);
            for (k, v) in entries {
                e.key(k);
                encode(e, v);
            }
        }
    }
}

fn decode(d: &mut Decoder<'_>, depth: usize) -> Result<V, DecodeError> {
    Ok(match d.item()? {
        Item::None => V::None,
        Item::Bool(b) => V::Bool(b),
        Item::Int(i) => V::Int(i),
        Item::Uint(u) => V::Uint(u),
        Item::BigInt(s) => V::Big(s.to_owned()),
        Item::Float(f) => V::Float(f),
        Item::Str(s) => V::Str(s.to_owned()),
        Item::RawStr(b) => V::Str(String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8)?),
        Item::Bytes(b) => V::Bytes(b.to_vec()),
        Item::List(n) => {
            if depth == MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            V::List(
                (0..n)
                    .map(|_| decode(d, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Item::Dict(n) => {
            if depth == MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            let mut entries = Vec::new();
            for _ in 0..n {
                let k = d.key()?.to_owned();
                entries.push((k, decode(d, depth + 1)?));
            }
            V::Dict(entries)
        }
    })
}

proptest! {
    #[test]
    fn values_come_back_as_they_went(v in value()) {
        let mut e = Encoder::new();
        encode(&mut e, &v);
        prop_assert!(validate(&e.buf).is_ok());
        let mut d = Decoder::new(&e.buf);
        prop_assert_eq!(decode(&mut d, 0).unwrap(), v.clone());
        prop_assert!(d.is_done());
        // The unchecked-text decoder reads the same value.
        let mut d = Decoder::unchecked_text(&e.buf);
        prop_assert_eq!(decode(&mut d, 0).unwrap(), v);
        prop_assert!(d.is_done());
    }

    #[test]
    fn corrupt_values_are_errors_not_panics(v in value(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let mut e = Encoder::new();
        encode(&mut e, &v);
        let mut b = e.buf;
        let n = b.len();
        prop_assert!(validate(&b[..cut.index(n)]).is_err());
        let i = flip.0.index(n);
        b[i] ^= flip.1;
        let _ = validate(&b);
        let _ = decode(&mut Decoder::new(&b), 0);
        let _ = decode(&mut Decoder::unchecked_text(&b), 0);
    }
}

#[test]
fn nesting_beyond_the_limit_is_refused_without_recursion() {
    let mut b = Vec::new();
    for _ in 0..100_000 {
        b.extend_from_slice(&[PYHOST_VALUE_DICT, 1, 0, 0, 0, 1, 0, 0, 0, b'k']);
    }
    b.push(PYHOST_VALUE_NONE);
    assert_eq!(validate(&b), Err(DecodeError::TooDeep));
    let mut ok = Vec::new();
    for _ in 0..MAX_DEPTH {
        ok.extend_from_slice(&[PYHOST_VALUE_LIST, 1, 0, 0, 0]);
    }
    ok.push(PYHOST_VALUE_NONE);
    assert_eq!(validate(&ok), Ok(()));
}
