//! Writing GGUF files: used by `sage models import` (HF safetensors folders) and
//! `sage models synth` (real shapes, random weights), and by tests to craft files.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A metadata value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// u32.
    U32(u32),
    /// i32.
    I32(i32),
    /// u64.
    U64(u64),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// string.
    Str(String),
    /// array of strings.
    Strings(Vec<String>),
    /// array of f32.
    F32s(Vec<f32>),
    /// array of i32.
    I32s(Vec<i32>),
}

/// A tensor to write: name, shape (innermost first), ggml type id, raw data.
#[derive(Debug, Clone)]
pub struct TensorData {
    /// Name.
    pub name: String,
    /// Shape, innermost first.
    pub dims: Vec<u64>,
    /// ggml type id (0 = F32, 1 = F16, 30 = BF16, ...).
    pub ggml_type: u32,
    /// Raw bytes.
    pub data: Vec<u8>,
}

struct Counting<W> {
    w: W,
    pos: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.pos += b.len() as u64;
        self.w.write_all(b)
    }
}

/// A tensor whose data is produced while writing (for files too large to hold in memory).
#[derive(Debug, Clone)]
pub struct TensorDecl {
    /// Name.
    pub name: String,
    /// Shape, innermost first.
    pub dims: Vec<u64>,
    /// ggml type id.
    pub ggml_type: u32,
    /// Bytes the data will have.
    pub bytes: u64,
}

/// Builds a GGUF v3 file.
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<TensorData>,
    alignment: u64,
}

impl GgufWriter {
    /// Write a file whose tensors are declared up front and filled by `fill(index, writer)` in
    /// order; `fill` must write exactly the declared bytes. Tensors added with
    /// [`GgufWriter::tensor`] are ignored here.
    pub fn write_streaming(
        &self,
        path: &Path,
        decls: &[TensorDecl],
        mut fill: impl FnMut(usize, &mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut w = Counting { w: BufWriter::with_capacity(1 << 22, File::create(path)?), pos: 0 };
        let header =
            self.header(decls.iter().map(|d| (d.name.as_str(), d.dims.as_slice(), d.ggml_type, d.bytes)))?;
        w.put(&header)?;
        let align = self.alignment.max(1);
        let pad = w.pos.div_ceil(align) * align - w.pos;
        w.put(&vec![0u8; pad as usize])?;
        for (i, d) in decls.iter().enumerate() {
            let start = w.pos;
            fill(i, &mut w)?;
            let written = w.pos - start;
            if written != d.bytes {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tensor {}: wrote {written} bytes, declared {}", d.name, d.bytes),
                ));
            }
            let pad = w.pos.div_ceil(align) * align - w.pos;
            w.put(&vec![0u8; pad as usize])?;
        }
        w.w.flush()
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn put_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

impl GgufWriter {
    /// An empty file with 32-byte alignment.
    pub fn new() -> Self {
        Self { metadata: vec![], tensors: vec![], alignment: 32 }
    }

    /// Add a metadata entry.
    pub fn meta(&mut self, key: &str, v: MetaValue) -> &mut Self {
        self.metadata.push((key.to_string(), v));
        self
    }

    /// Add a tensor.
    pub fn tensor(&mut self, t: TensorData) -> &mut Self {
        self.tensors.push(t);
        self
    }

    /// Write everything to `path`.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let decls: Vec<TensorDecl> = self
            .tensors
            .iter()
            .map(|t| TensorDecl {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ggml_type: t.ggml_type,
                bytes: t.data.len() as u64,
            })
            .collect();
        self.write_streaming(path, &decls, |i, w| w.write_all(&self.tensors[i].data))
    }

    fn header<'a>(
        &self,
        tensors: impl Iterator<Item = (&'a str, &'a [u64], u32, u64)>,
    ) -> io::Result<Vec<u8>> {
        let tensors: Vec<_> = tensors.collect();
        let mut header: Vec<u8> = vec![];
        header.extend_from_slice(b"GGUF");
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut header, k)?;
            put_value(&mut header, v)?;
        }
        let align = self.alignment.max(1);
        let mut offset = 0u64;
        for (name, dims, ggml_type, bytes) in tensors {
            put_str(&mut header, name)?;
            header.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&ggml_type.to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + bytes).div_ceil(align) * align;
        }
        Ok(header)
    }
}

fn put_value(header: &mut Vec<u8>, v: &MetaValue) -> io::Result<()> {
    match v {
        MetaValue::U32(x) => {
            header.extend_from_slice(&4u32.to_le_bytes());
            header.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::I32(x) => {
            header.extend_from_slice(&5u32.to_le_bytes());
            header.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::U64(x) => {
            header.extend_from_slice(&10u32.to_le_bytes());
            header.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::F32(x) => {
            header.extend_from_slice(&6u32.to_le_bytes());
            header.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::Bool(x) => {
            header.extend_from_slice(&7u32.to_le_bytes());
            header.push(*x as u8);
        }
        MetaValue::Str(s) => {
            header.extend_from_slice(&8u32.to_le_bytes());
            put_str(header, s)?;
        }
        MetaValue::Strings(v) => {
            header.extend_from_slice(&9u32.to_le_bytes());
            header.extend_from_slice(&8u32.to_le_bytes());
            header.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for s in v {
                put_str(header, s)?;
            }
        }
        MetaValue::F32s(v) => {
            header.extend_from_slice(&9u32.to_le_bytes());
            header.extend_from_slice(&6u32.to_le_bytes());
            header.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for x in v {
                header.extend_from_slice(&x.to_le_bytes());
            }
        }
        MetaValue::I32s(v) => {
            header.extend_from_slice(&9u32.to_le_bytes());
            header.extend_from_slice(&5u32.to_le_bytes());
            header.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for x in v {
                header.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    Ok(())
}
