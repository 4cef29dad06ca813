//! A transparent serde deserializer that checks every tensor of a record as it is read.
//!
//! Burn reads a tensor as `TensorData { bytes, shape, dtype }` and then, when the stored
//! element type differs from the one wanted, converts it into a new buffer sized by the
//! *shape*, not by the bytes. A damaged record with a few bytes and a shape of 2^40
//! elements therefore made it allocate terabytes, and a shape with 2^61 dimensions made it
//! reserve them up front. This wrapper forwards every call to the real deserializer and
//! watches what passes: when a `TensorData` is complete it refuses one whose shape holds
//! more elements than twice its bytes (no element type takes less than half a byte), before
//! Burn converts it; and it caps the length hints that containers reserve from.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// The largest length hint passed on: containers grow past it as elements arrive.
const MAX_HINT: usize = 4096;

/// A `T` read through [`Guarded`].
pub(crate) struct Checked<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let watch = Watch::default();
        T::deserialize(Guarded {
            inner: deserializer,
            watch: &watch,
        })
        .map(Checked)
    }
}

/// What is known of the tensor being read.
#[derive(Default)]
pub(crate) struct Watch {
    /// Whether a `TensorData` is being read, and which of its fields (0 bytes, 1 shape).
    field: Cell<Option<usize>>,
    bytes: Cell<usize>,
    /// Product of the dimensions read so far, saturating.
    elements: Cell<u128>,
}

impl Watch {
    fn record_bytes(&self, len: usize) {
        if self.field.get() == Some(0) {
            self.bytes.set(self.bytes.get().saturating_add(len));
        }
    }

    fn record_dim(&self, dim: u128) {
        if self.field.get() == Some(1) {
            self.elements.set(self.elements.get().saturating_mul(dim));
        }
    }
}

/// `inner`, watched by `watch`.
pub(crate) struct Guarded<'w, D> {
    pub(crate) inner: D,
    pub(crate) watch: &'w Watch,
}

struct Wrap<'w, T> {
    inner: T,
    watch: &'w Watch,
}

fn wrap<T>(inner: T, watch: &Watch) -> Wrap<'_, T> {
    Wrap { inner, watch }
}

macro_rules! forward_deserialize {
    ($($method:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method(wrap(visitor, self.watch))
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guarded<'_, D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_unit_struct(name, wrap(visitor, self.watch))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_newtype_struct(name, wrap(visitor, self.watch))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple(len, wrap(visitor, self.watch))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_tuple_struct(name, len, wrap(visitor, self.watch))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name != "TensorData" {
            return self
                .inner
                .deserialize_struct(name, fields, wrap(visitor, self.watch));
        }
        let watch = self.watch;
        watch.field.set(Some(usize::MAX));
        watch.bytes.set(0);
        watch.elements.set(1);
        let tensor = TensorVisitor {
            inner: visitor,
            watch,
        };
        let value = self.inner.deserialize_struct(name, fields, tensor);
        watch.field.set(None);
        value
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_enum(name, variants, wrap(visitor, self.watch))
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $ty:ty => $record:expr),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            #[allow(clippy::redundant_closure_call)]
            ($record)(self.watch, &v);
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool: bool => |_, _| {},
        visit_i8: i8 => |_, _| {},
        visit_i16: i16 => |_, _| {},
        visit_i32: i32 => |_, _| {},
        visit_i64: i64 => |_, _| {},
        visit_i128: i128 => |_, _| {},
        visit_u8: u8 => |w: &Watch, v: &u8| w.record_dim(u128::from(*v)),
        visit_u16: u16 => |w: &Watch, v: &u16| w.record_dim(u128::from(*v)),
        visit_u32: u32 => |w: &Watch, v: &u32| w.record_dim(u128::from(*v)),
        visit_u64: u64 => |w: &Watch, v: &u64| w.record_dim(u128::from(*v)),
        visit_u128: u128 => |w: &Watch, v: &u128| w.record_dim(*v),
        visit_f32: f32 => |_, _| {},
        visit_f64: f64 => |_, _| {},
        visit_char: char => |_, _| {},
        visit_str: &str => |_, _| {},
        visit_borrowed_str: &'de str => |_, _| {},
        visit_string: String => |_, _| {},
        visit_bytes: &[u8] => |w: &Watch, v: &&[u8]| w.record_bytes(v.len()),
        visit_borrowed_bytes: &'de [u8] => |w: &Watch, v: &&'de [u8]| w.record_bytes(v.len()),
        visit_byte_buf: Vec<u8> => |w: &Watch, v: &Vec<u8>| w.record_bytes(v.len()),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Guarded {
            inner: d,
            watch: self.watch,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Guarded {
            inner: d,
            watch: self.watch,
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(wrap(seq, self.watch))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(wrap(map, self.watch))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(wrap(data, self.watch))
    }
}

/// The visitor of a `TensorData`: numbers its fields, and checks the tensor at the end.
struct TensorVisitor<'w, V> {
    inner: V,
    watch: &'w Watch,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TensorVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let fields = TensorFields {
            inner: seq,
            watch: self.watch,
            next: 0,
        };
        self.inner.visit_seq(fields)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        // Self-describing formats name the fields; bincode, which checkpoints use, does
        // not. Field order is not known here, so only the length hints are capped.
        self.inner.visit_map(wrap(map, self.watch))
    }
}

/// The three fields of a `TensorData`, in order: bytes, shape, dtype.
struct TensorFields<'w, A> {
    inner: A,
    watch: &'w Watch,
    next: usize,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for TensorFields<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        if self.next == 2 {
            // The shape is complete: refuse it before anything is sized by it.
            let (elements, bytes) = (self.watch.elements.get(), self.watch.bytes.get());
            if elements > 2 * bytes as u128 {
                return Err(de::Error::custom(format_args!(
                    "a tensor's shape holds {elements} elements but its data only {bytes} \
                     bytes"
                )));
            }
        }
        self.watch.field.set(Some(self.next));
        self.next += 1;
        self.inner.next_element_seed(wrap(seed, self.watch))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<'_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.inner.deserialize(Guarded {
            inner: d,
            watch: self.watch,
        })
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(wrap(seed, self.watch))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint().map(|n| n.min(MAX_HINT))
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(wrap(seed, self.watch))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(wrap(seed, self.watch))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint().map(|n| n.min(MAX_HINT))
    }
}

impl<'de, 'w, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<'w, A> {
    type Error = A::Error;
    type Variant = Wrap<'w, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let watch = self.watch;
        let (value, variant) = self.inner.variant_seed(wrap(seed, watch))?;
        Ok((value, wrap(variant, watch)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(wrap(seed, self.watch))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, wrap(v, self.watch))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, wrap(v, self.watch))
    }
}
