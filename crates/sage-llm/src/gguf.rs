//! A GGUF reader in plain Rust: the header, the metadata and the tensor table, validated before
//! any file reaches llama.cpp, so that a malformed, truncated or foreign file is a typed error
//! naming the path, never a crash in C. It also serves `sage models inspect`.
//!
//! Large arrays (the tokenizer's 262,144 tokens, say) are summarised, not kept.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod writer;

/// Magic bytes at the start of every GGUF file.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Longest string we accept in metadata (a chat template is a few KiB).
const MAX_STRING: u64 = 64 << 20;
/// Most array elements we accept.
const MAX_ARRAY: u64 = 1 << 28;
/// Most tensors and metadata entries we accept.
const MAX_ENTRIES: u64 = 1 << 20;
/// Array elements kept for display.
const KEEP_ELEMENTS: usize = 8;
/// Integer arrays up to this long are kept whole: per-layer values (head counts, MLP widths).
const KEEP_LAYER_VALUES: u64 = 4096;

/// A GGUF file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Not a GGUF file.
    #[error("{path}: not a GGUF file (magic {found:?})")]
    NotGguf {
        /// File.
        path: PathBuf,
        /// First bytes found.
        found: [u8; 4],
    },
    /// A GGUF version we do not read.
    #[error("{path}: GGUF version {version} is not supported (2 and 3 are)")]
    Version {
        /// File.
        path: PathBuf,
        /// Version found.
        version: u32,
    },
    /// The file ends early or holds impossible values.
    #[error("{path}: malformed GGUF at byte {offset}: {message}")]
    Malformed {
        /// File.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        message: String,
    },
    /// The tensor data is shorter than the tensor table says.
    #[error("{path}: truncated: tensor {tensor} ends at byte {needed}, the file has {size}")]
    Truncated {
        /// File.
        path: PathBuf,
        /// Tensor that does not fit.
        tensor: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        size: u64,
    },
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Unsigned integer (u8..u64).
    U(u64),
    /// Signed integer (i8..i64).
    I(i64),
    /// Float (f32, f64).
    F(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(String),
    /// Array: its element type name, length and first elements.
    Array {
        /// Element type name.
        of: &'static str,
        /// Number of elements.
        len: u64,
        /// The first few elements.
        head: Vec<Value>,
    },
}

impl Value {
    /// As an unsigned integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U(x) => Some(x),
            Value::I(x) if x >= 0 => Some(x as u64),
            _ => None,
        }
    }
    /// As a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::U(x) => Some(x as f64),
            Value::I(x) => Some(x as f64),
            Value::F(x) => Some(x),
            _ => None,
        }
    }
    /// As a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(x) => Some(x),
            _ => None,
        }
    }
    /// As a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U(x) => write!(f, "{x}"),
            Value::I(x) => write!(f, "{x}"),
            Value::F(x) => write!(f, "{x}"),
            Value::Bool(x) => write!(f, "{x}"),
            Value::Str(s) => {
                let short: String = s.chars().take(80).collect();
                if short.len() < s.len() {
                    write!(f, "{short:?}… ({} bytes)", s.len())
                } else {
                    write!(f, "{s:?}")
                }
            }
            Value::Array { of, len, head } => {
                let items: Vec<String> = head.iter().take(KEEP_ELEMENTS).map(|v| v.to_string()).collect();
                write!(
                    f,
                    "[{of}; {len}] {}{}",
                    items.join(", "),
                    if (*len as usize) > items.len() { ", …" } else { "" }
                )
            }
        }
    }
}

/// A model's layers by kind ([`GgufFile::layer_kinds`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LayerKinds {
    /// Layers with neither KV heads nor an MLP: recurrent (Mamba) layers.
    pub recurrent: u64,
    /// Layers with KV heads.
    pub attention: u64,
    /// Layers with an MLP (or experts) and no KV heads.
    pub ffn: u64,
}

/// One tensor's entry in the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// Shape, innermost first (GGUF order).
    pub dims: Vec<u64>,
    /// ggml type id.
    pub ggml_type: u32,
    /// Offset from the start of the data section.
    pub offset: u64,
    /// Bytes of data.
    pub bytes: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header.
#[derive(Debug, Clone, Serialize)]
pub struct GgufFile {
    /// The file.
    pub path: PathBuf,
    /// GGUF version.
    pub version: u32,
    /// File size in bytes.
    pub file_bytes: u64,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Where the tensor data starts.
    pub data_offset: u64,
}

/// Name and (block elements, block bytes) of a ggml type.
pub fn ggml_type_info(t: u32) -> Option<(&'static str, u64, u64)> {
    Some(match t {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        9 => ("Q8_1", 32, 36),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        16 => ("IQ2_XXS", 256, 66),
        17 => ("IQ2_XS", 256, 74),
        18 => ("IQ3_XXS", 256, 98),
        19 => ("IQ1_S", 256, 50),
        20 => ("IQ4_NL", 32, 18),
        21 => ("IQ3_S", 256, 110),
        22 => ("IQ2_S", 256, 82),
        23 => ("IQ4_XS", 256, 136),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        29 => ("IQ1_M", 256, 56),
        30 => ("BF16", 1, 2),
        34 => ("TQ1_0", 256, 54),
        35 => ("TQ2_0", 256, 66),
        39 => ("MXFP4", 32, 17),
        _ => return None,
    })
}

/// Human name of a `general.file_type` value.
pub fn file_type_name(ft: u64) -> &'static str {
    match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => "other",
    }
}

struct Reader<'a, R> {
    r: R,
    pos: u64,
    path: &'a Path,
}

impl<R: Read> Reader<'_, R> {
    fn err(&self, message: impl Into<String>) -> GgufError {
        GgufError::Malformed { path: self.path.to_path_buf(), offset: self.pos, message: message.into() }
    }
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.err("unexpected end of file")
            } else {
                GgufError::Io { path: self.path.to_path_buf(), source: e }
            }
        })?;
        self.pos += N as u64;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.u64()?;
        if n > MAX_STRING {
            return Err(self.err(format!("string of {n} bytes")));
        }
        let mut buf = vec![0u8; n as usize];
        self.r.read_exact(&mut buf).map_err(|_| self.err("unexpected end of file in a string"))?;
        self.pos += n;
        String::from_utf8(buf).map_err(|_| self.err("string is not UTF-8"))
    }
    fn scalar(&mut self, t: u32) -> Result<Value, GgufError> {
        Ok(match t {
            0 => Value::U(u8::from_le_bytes(self.bytes()?) as u64),
            1 => Value::I(i8::from_le_bytes(self.bytes()?) as i64),
            2 => Value::U(u16::from_le_bytes(self.bytes()?) as u64),
            3 => Value::I(i16::from_le_bytes(self.bytes()?) as i64),
            4 => Value::U(self.u32()? as u64),
            5 => Value::I(i32::from_le_bytes(self.bytes()?) as i64),
            6 => Value::F(f32::from_le_bytes(self.bytes()?) as f64),
            7 => Value::Bool(u8::from_le_bytes(self.bytes()?) != 0),
            8 => Value::Str(self.string()?),
            10 => Value::U(self.u64()?),
            11 => Value::I(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F(f64::from_le_bytes(self.bytes()?)),
            other => return Err(self.err(format!("unknown value type {other}"))),
        })
    }
    fn value(&mut self, t: u32) -> Result<Value, GgufError> {
        if t != 9 {
            return self.scalar(t);
        }
        let of = self.u32()?;
        let len = self.u64()?;
        if len > MAX_ARRAY {
            return Err(self.err(format!("array of {len} elements")));
        }
        if of == 9 {
            return Err(self.err("nested arrays are not supported"));
        }
        // Per-layer integer arrays are kept whole; others (vocabularies, scores) by their head.
        let integer = matches!(of, 0..=5 | 10 | 11);
        let keep = if integer && len <= KEEP_LAYER_VALUES { len as usize } else { KEEP_ELEMENTS };
        let mut head = Vec::with_capacity(keep.min(len as usize));
        for i in 0..len {
            let v = self.scalar(of)?;
            if (i as usize) < keep {
                head.push(v);
            }
        }
        let name = match of {
            0 => "u8",
            1 => "i8",
            2 => "u16",
            3 => "i16",
            4 => "u32",
            5 => "i32",
            6 => "f32",
            7 => "bool",
            8 => "string",
            10 => "u64",
            11 => "i64",
            12 => "f64",
            _ => "?",
        };
        Ok(Value::Array { of: name, len, head })
    }
}

impl GgufFile {
    /// Read and validate the header, metadata and tensor table of `path`, and check that every
    /// tensor's data lies inside the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io_err = |source| GgufError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io_err)?;
        let file_bytes = file.metadata().map_err(io_err)?.len();
        let mut r = Reader { r: BufReader::with_capacity(1 << 16, file), pos: 0, path };
        let magic: [u8; 4] =
            r.bytes().map_err(|_| GgufError::NotGguf { path: path.to_path_buf(), found: [0; 4] })?;
        if &magic != MAGIC {
            return Err(GgufError::NotGguf { path: path.to_path_buf(), found: magic });
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version { path: path.to_path_buf(), version });
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        if n_tensors > MAX_ENTRIES || n_kv > MAX_ENTRIES {
            return Err(r.err(format!("{n_tensors} tensors and {n_kv} metadata entries")));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let t = r.u32()?;
            let v = r.value(t)?;
            metadata.insert(key, v);
        }
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > 4 {
                return Err(r.err(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64()?);
            }
            let ggml_type = r.u32()?;
            let offset = r.u64()?;
            let (tname, block, block_bytes) = ggml_type_info(ggml_type)
                .ok_or_else(|| r.err(format!("tensor {name} has unknown type {ggml_type}")))?;
            let elements = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let Some(elements) = elements else {
                return Err(r.err(format!("tensor {name} shape {dims:?} overflows")));
            };
            if elements % block != 0 || dims[0] % block != 0 {
                return Err(r.err(format!(
                    "tensor {name}: {tname} needs rows that are a multiple of {block}, shape {dims:?}"
                )));
            }
            let Some(bytes) = (elements / block).checked_mul(block_bytes) else {
                return Err(r.err(format!("tensor {name} shape {dims:?} overflows")));
            };
            tensors.push(TensorInfo { name, dims, ggml_type, offset, bytes });
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            // llama.cpp asks for a power of two; anything above a page's worth is not a layout.
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => return Err(r.err(format!("general.alignment {v:?} is not a power of two up to 65536"))),
            },
        };
        let data_offset = r.pos.div_ceil(alignment) * alignment;
        for t in &tensors {
            let needed = data_offset.saturating_add(t.offset).saturating_add(t.bytes);
            if needed > file_bytes {
                return Err(GgufError::Truncated {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    needed,
                    size: file_bytes,
                });
            }
        }
        Ok(Self { path: path.to_path_buf(), version, file_bytes, metadata, tensors, data_offset })
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// An architecture-scoped key, e.g. `arch_key("context_length")` → `llama.context_length`.
    pub fn arch_value(&self, key: &str) -> Option<&Value> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.{key}"))
    }

    /// The chat template, if the file carries one.
    pub fn chat_template(&self) -> Option<&str> {
        self.get("tokenizer.chat_template").and_then(Value::as_str)
    }

    /// The model's trained context (`{arch}.context_length`), if the file says.
    pub fn train_context(&self) -> Option<u64> {
        self.arch_value("context_length").and_then(Value::as_u64)
    }

    /// Bytes of KV cache one token costs with an F16 cache in every layer (keys and values of
    /// every KV head): `Σ layers' kv_heads × (key_length + value_length) × 2`, where a per-layer
    /// head count of 0 (a hybrid model's Mamba and MLP layers) costs nothing. An upper bound for
    /// models whose sliding-window layers keep fewer cells. None when the shape is not given.
    pub fn kv_bytes_per_token(&self) -> Option<u64> {
        let u = |k: &str| self.arch_value(k).and_then(Value::as_u64);
        let layers = u("block_count")?;
        let heads = u("attention.head_count")?.max(1);
        let kv_heads_total = match self.arch_value("attention.head_count_kv") {
            Some(Value::Array { len, head, .. }) if *len == layers && head.len() as u64 == layers => {
                head.iter().map(|v| v.as_u64().unwrap_or(0)).sum::<u64>()
            }
            other => layers.checked_mul(other.and_then(Value::as_u64).unwrap_or(heads))?,
        };
        let head_dim = u("embedding_length").map(|h| h / heads);
        let k = u("attention.key_length").or(head_dim)?;
        let v = u("attention.value_length").or(head_dim)?;
        kv_heads_total.checked_mul(k.checked_add(v)?)?.checked_mul(2)
    }

    /// How many layers are of each kind, by llama.cpp's rule for hybrid models: KV heads make an
    /// attention layer, an MLP width an MLP (or expert) layer, neither a recurrent one. Per-layer
    /// arrays are read up to their first 4,096 values; scalars count for every layer.
    pub fn layer_kinds(&self) -> LayerKinds {
        let layers = self.arch_value("block_count").and_then(Value::as_u64).unwrap_or(0);
        let (kv, ff) = (self.arch_value("attention.head_count_kv"), self.arch_value("feed_forward_length"));
        let at = |v: Option<&Value>, l: usize| match v {
            Some(Value::Array { head, .. }) => head.get(l).and_then(Value::as_u64).unwrap_or(0),
            Some(v) => v.as_u64().unwrap_or(0),
            None => 0,
        };
        let kind = |l: usize| match (at(kv, l) > 0, at(ff, l) > 0) {
            (true, _) => LayerKinds { attention: 1, ..LayerKinds::default() },
            (false, true) => LayerKinds { ffn: 1, ..LayerKinds::default() },
            (false, false) => LayerKinds { recurrent: 1, ..LayerKinds::default() },
        };
        let is_array = |v: Option<&Value>| matches!(v, Some(Value::Array { .. }));
        if !is_array(kv) && !is_array(ff) {
            // One kind for every layer: no loop over a count a file may set to anything.
            let k = kind(0);
            return LayerKinds {
                recurrent: k.recurrent * layers,
                attention: k.attention * layers,
                ffn: k.ffn * layers,
            };
        }
        (0..layers.min(KEEP_LAYER_VALUES) as usize).map(kind).fold(LayerKinds::default(), |a, b| LayerKinds {
            recurrent: a.recurrent + b.recurrent,
            attention: a.attention + b.attention,
            ffn: a.ffn + b.ffn,
        })
    }

    /// Bytes of recurrent state one sequence holds whatever its length (a hybrid model's Mamba
    /// layers: the convolution's last `conv_kernel − 1` inputs and the scan's state, F32). 0 for
    /// a model without `ssm.*` keys.
    pub fn recurrent_bytes_per_sequence(&self) -> u64 {
        let u = |k: &str| self.arch_value(k).and_then(Value::as_u64);
        let (Some(conv), Some(inner), Some(state)) =
            (u("ssm.conv_kernel"), u("ssm.inner_size"), u("ssm.state_size"))
        else {
            return 0;
        };
        let groups = u("ssm.group_count").unwrap_or(1);
        let channels = inner.saturating_add(groups.saturating_mul(state).saturating_mul(2));
        let floats =
            conv.saturating_sub(1).saturating_mul(channels).saturating_add(state.saturating_mul(inner));
        self.layer_kinds().recurrent.saturating_mul(floats).saturating_mul(4)
    }

    /// Bytes of tensor data.
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }

    /// Parameter count.
    pub fn parameters(&self) -> u64 {
        self.tensors.iter().map(TensorInfo::elements).sum()
    }

    /// Tensor count and bytes per ggml type, largest first.
    pub fn type_histogram(&self) -> Vec<(&'static str, usize, u64)> {
        let mut m: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
        for t in &self.tensors {
            let name = ggml_type_info(t.ggml_type).map_or("?", |x| x.0);
            let e = m.entry(name).or_default();
            e.0 += 1;
            e.1 += t.bytes;
        }
        let mut v: Vec<_> = m.into_iter().map(|(k, (n, b))| (k, n, b)).collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.2));
        v
    }

    /// Read the raw bytes of one tensor.
    pub fn tensor_data(&self, name: &str) -> Result<Vec<u8>, GgufError> {
        let io_err = |source| GgufError::Io { path: self.path.clone(), source };
        let t = self.tensors.iter().find(|t| t.name == name).ok_or_else(|| GgufError::Malformed {
            path: self.path.clone(),
            offset: 0,
            message: format!("no tensor named {name}"),
        })?;
        let mut f = File::open(&self.path).map_err(io_err)?;
        f.seek(SeekFrom::Start(self.data_offset + t.offset)).map_err(io_err)?;
        let mut buf = vec![0u8; t.bytes as usize];
        f.read_exact(&mut buf).map_err(io_err)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests;
