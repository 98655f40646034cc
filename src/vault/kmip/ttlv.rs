//! KMIP's TTLV encoding (KMIP 1.4 §9.1): every item is a 3-byte tag, a 1-byte type, a 4-byte
//! big-endian length and the value, padded with zeros to a multiple of 8 bytes.
//!
//! Decoding is bounded: a length that runs past its buffer, a fixed-size type with the wrong
//! length, non-zero padding, a nesting deeper than [`MAX_DEPTH`] or more than [`MAX_ITEMS`]
//! items are refused with a [`TtlvError`], never a panic, and no allocation is larger than the
//! input.

use std::fmt;

/// Deepest nesting of structures accepted (KMIP messages need about 6).
pub const MAX_DEPTH: usize = 16;
/// Most items accepted in one message.
pub const MAX_ITEMS: usize = 4096;
/// Largest message accepted (a wrap response is well under 1 KiB).
pub const MAX_MESSAGE: usize = 1 << 20;

/// A decoding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtlvError(pub String);

impl fmt::Display for TtlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed KMIP message: {}", self.0)
    }
}

fn err<T>(what: impl Into<String>) -> Result<T, TtlvError> {
    Err(TtlvError(what.into()))
}

/// A TTLV value.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Type 0x01.
    Structure(Vec<Item>),
    /// Type 0x02.
    Integer(i32),
    /// Type 0x03.
    LongInteger(i64),
    /// Type 0x04 (two's complement, big-endian, a multiple of 8 bytes).
    BigInteger(Vec<u8>),
    /// Type 0x05.
    Enumeration(u32),
    /// Type 0x06.
    Boolean(bool),
    /// Type 0x07.
    TextString(String),
    /// Type 0x08.
    ByteString(Vec<u8>),
    /// Type 0x09 (seconds since the epoch).
    DateTime(i64),
    /// Type 0x0A (seconds).
    Interval(u32),
}

// Byte strings may be key material or plaintext: never print them.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Structure(items) => f.debug_list().entries(items).finish(),
            Value::Integer(v) => write!(f, "Integer({v})"),
            Value::LongInteger(v) => write!(f, "LongInteger({v})"),
            Value::BigInteger(b) => write!(f, "BigInteger({} bytes)", b.len()),
            Value::Enumeration(v) => write!(f, "Enumeration({v:#x})"),
            Value::Boolean(v) => write!(f, "Boolean({v})"),
            Value::TextString(s) => write!(f, "TextString({s:?})"),
            Value::ByteString(b) => write!(f, "ByteString({} bytes)", b.len()),
            Value::DateTime(v) => write!(f, "DateTime({v})"),
            Value::Interval(v) => write!(f, "Interval({v})"),
        }
    }
}

/// One tagged item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The 24-bit tag (0x42xxxx for the standard's tags).
    pub tag: u32,
    /// The value.
    pub value: Value,
}

impl Item {
    /// A new item.
    pub fn new(tag: u32, value: Value) -> Self {
        Item { tag, value }
    }

    /// A structure.
    pub fn structure(tag: u32, items: Vec<Item>) -> Self {
        Item::new(tag, Value::Structure(items))
    }

    /// An enumeration.
    pub fn enumeration(tag: u32, v: u32) -> Self {
        Item::new(tag, Value::Enumeration(v))
    }

    /// An integer.
    pub fn integer(tag: u32, v: i32) -> Self {
        Item::new(tag, Value::Integer(v))
    }

    /// A text string.
    pub fn text(tag: u32, s: &str) -> Self {
        Item::new(tag, Value::TextString(s.to_string()))
    }

    /// A byte string.
    pub fn bytes(tag: u32, b: &[u8]) -> Self {
        Item::new(tag, Value::ByteString(b.to_vec()))
    }

    /// The first child with `tag`, if this is a structure.
    pub fn child(&self, tag: u32) -> Option<&Item> {
        match &self.value {
            Value::Structure(items) => items.iter().find(|i| i.tag == tag),
            _ => None,
        }
    }

    /// Every child with `tag`.
    pub fn children(&self, tag: u32) -> impl Iterator<Item = &Item> {
        let items: &[Item] = match &self.value {
            Value::Structure(items) => items,
            _ => &[],
        };
        items.iter().filter(move |i| i.tag == tag)
    }

    /// The value as an enumeration.
    pub fn as_enum(&self) -> Option<u32> {
        match self.value {
            Value::Enumeration(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an integer.
    pub fn as_int(&self) -> Option<i32> {
        match self.value {
            Value::Integer(v) => Some(v),
            _ => None,
        }
    }

    /// The value as text.
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::TextString(s) => Some(s),
            _ => None,
        }
    }

    /// The value as bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::ByteString(b) => Some(b),
            _ => None,
        }
    }

    /// The TTLV encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let t = self.tag.to_be_bytes();
        out.extend_from_slice(&t[1..]);
        let (ty, body): (u8, Vec<u8>) = match &self.value {
            Value::Structure(items) => {
                let mut b = Vec::new();
                for i in items {
                    i.encode_into(&mut b);
                }
                (0x01, b)
            }
            Value::Integer(v) => (0x02, v.to_be_bytes().to_vec()),
            Value::LongInteger(v) => (0x03, v.to_be_bytes().to_vec()),
            Value::BigInteger(b) => (0x04, b.clone()),
            Value::Enumeration(v) => (0x05, v.to_be_bytes().to_vec()),
            Value::Boolean(v) => (0x06, u64::from(*v).to_be_bytes().to_vec()),
            Value::TextString(s) => (0x07, s.as_bytes().to_vec()),
            Value::ByteString(b) => (0x08, b.clone()),
            Value::DateTime(v) => (0x09, v.to_be_bytes().to_vec()),
            Value::Interval(v) => (0x0A, v.to_be_bytes().to_vec()),
        };
        out.push(ty);
        // Every length fits: messages are built from bounded inputs (keys, ids, small data).
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        let pad = (8 - body.len() % 8) % 8;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
}

/// The total length of the message whose first 8 bytes are `header` (for reading one from a
/// stream), refused above [`MAX_MESSAGE`].
pub fn message_len(header: &[u8; 8]) -> Result<usize, TtlvError> {
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if header[3] != 0x01 {
        return err("a message must be a structure");
    }
    if len > MAX_MESSAGE - 8 {
        return err(format!("a message of {len} bytes is larger than allowed"));
    }
    Ok(8 + len)
}

/// Decode exactly one item filling `buf`.
pub fn decode(buf: &[u8]) -> Result<Item, TtlvError> {
    if buf.len() > MAX_MESSAGE {
        return err("message too large");
    }
    let mut count = 0usize;
    let (item, used) = decode_at(buf, 0, &mut count)?;
    if used != buf.len() {
        return err(format!("{} trailing bytes", buf.len() - used));
    }
    Ok(item)
}

fn decode_at(buf: &[u8], depth: usize, count: &mut usize) -> Result<(Item, usize), TtlvError> {
    if depth > MAX_DEPTH {
        return err("structures nested too deeply");
    }
    *count += 1;
    if *count > MAX_ITEMS {
        return err("too many items");
    }
    let Some(h) = buf.get(..8) else {
        return err("truncated item header");
    };
    let tag = u32::from_be_bytes([0, h[0], h[1], h[2]]);
    let ty = h[3];
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let padded = len
        .checked_add((8 - len % 8) % 8)
        .ok_or_else(|| TtlvError("length overflows".into()))?;
    if padded > buf.len() - 8 {
        return err(format!(
            "item {tag:#08x} says {len} bytes but {} remain",
            buf.len() - 8
        ));
    }
    let body = &buf[8..8 + len];
    if buf[8 + len..8 + padded].iter().any(|&b| b != 0) {
        return err(format!("item {tag:#08x} has non-zero padding"));
    }
    let fixed = |want: usize| -> Result<(), TtlvError> {
        if len != want {
            return err(format!(
                "item {tag:#08x} of type {ty:#04x} must be {want} bytes, not {len}"
            ));
        }
        Ok(())
    };
    let value = match ty {
        0x01 => {
            let mut items = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let (i, used) = decode_at(&body[at..], depth + 1, count)?;
                items.push(i);
                at += used;
            }
            Value::Structure(items)
        }
        0x02 => {
            fixed(4)?;
            Value::Integer(i32::from_be_bytes([body[0], body[1], body[2], body[3]]))
        }
        0x03 => {
            fixed(8)?;
            Value::LongInteger(i64::from_be_bytes(eight(body)))
        }
        0x04 => {
            if !len.is_multiple_of(8) {
                return err("a big integer must be a multiple of 8 bytes");
            }
            Value::BigInteger(body.to_vec())
        }
        0x05 => {
            fixed(4)?;
            Value::Enumeration(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
        }
        0x06 => {
            fixed(8)?;
            match u64::from_be_bytes(eight(body)) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => return err("a boolean must be 0 or 1"),
            }
        }
        0x07 => Value::TextString(
            String::from_utf8(body.to_vec())
                .map_err(|_| TtlvError(format!("text of item {tag:#08x} is not UTF-8")))?,
        ),
        0x08 => Value::ByteString(body.to_vec()),
        0x09 => {
            fixed(8)?;
            Value::DateTime(i64::from_be_bytes(eight(body)))
        }
        0x0A => {
            fixed(4)?;
            Value::Interval(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
        }
        other => return err(format!("unknown item type {other:#04x}")),
    };
    Ok((Item { tag, value }, 8 + padded))
}

fn eight(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_type() {
        let msg = Item::structure(
            0x420078,
            vec![
                Item::integer(0x42006A, 1),
                Item::new(0x420001, Value::LongInteger(-5)),
                Item::new(0x420002, Value::BigInteger(vec![0; 16])),
                Item::enumeration(0x42005C, 0x1F),
                Item::new(0x420003, Value::Boolean(true)),
                Item::text(0x420094, "abc"),
                Item::bytes(0x4200C2, &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
                Item::new(0x420092, Value::DateTime(1_700_000_000)),
                Item::new(0x420004, Value::Interval(60)),
                Item::structure(0x42002B, vec![]),
            ],
        );
        let enc = msg.encode();
        assert_eq!(enc.len() % 8, 0);
        assert_eq!(decode(&enc).unwrap(), msg);
    }

    #[test]
    fn known_encoding_of_an_integer() {
        // KMIP 1.4 §9.1.2 example: an Integer 8 with tag 0x420020.
        let enc = Item::integer(0x420020, 8).encode();
        assert_eq!(hex::encode(enc), "42002002000000040000000800000000");
        // A text string "Hello World" (§9.1.2).
        let enc = Item::text(0x420020, "Hello World").encode();
        assert_eq!(
            hex::encode(enc),
            "420020070000000b48656c6c6f20576f726c640000000000"
        );
    }

    #[test]
    fn refusals() {
        // Length past the buffer.
        let mut enc = Item::bytes(0x4200C2, b"12345678").encode();
        enc[7] = 200;
        assert!(decode(&enc).is_err());
        // Wrong fixed length.
        let mut enc = Item::integer(0x420020, 8).encode();
        enc[7] = 8;
        enc.extend_from_slice(&[0; 8]);
        assert!(decode(&enc).is_err());
        // Non-zero padding.
        let mut enc = Item::integer(0x420020, 8).encode();
        enc[15] = 1;
        assert!(decode(&enc).is_err());
        // Trailing bytes, truncation, unknown type.
        let mut enc = Item::integer(0x420020, 8).encode();
        enc.push(0);
        assert!(decode(&enc).is_err());
        assert!(decode(&[0x42, 0, 0x20]).is_err());
        let mut enc = Item::integer(0x420020, 8).encode();
        enc[3] = 0x0B;
        assert!(decode(&enc).is_err());
        // Nesting deeper than allowed.
        let mut deep = Item::structure(0x420001, vec![]);
        for _ in 0..(MAX_DEPTH + 2) {
            deep = Item::structure(0x420001, vec![deep]);
        }
        assert!(decode(&deep.encode()).is_err());
        // A stream header with a huge length.
        assert!(message_len(&[0x42, 0, 0x7B, 1, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }
}
