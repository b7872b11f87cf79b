//! `sage models synth`: a GGUF with a published model's exact shape and random weights, so that
//! speed and memory of, say, Nemotron Nano 4B can be measured on any machine without the 8 GB
//! download. The text it generates is meaningless; the arithmetic and memory traffic are real.

use std::io;
use std::path::Path;

use crate::gguf::writer::{GgufWriter, TensorDecl};
use crate::import::nemotron_h::HybridModel;
use crate::llama_arch::{write_synthetic_vocab, LlamaShape, GGML_F16, GGML_F32};

/// Convert an f32 to IEEE half-precision bits (round to nearest even; values out of range
/// saturate to infinity, tiny ones flush to zero).
pub fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = (man | 0x80_0000) >> (1 - e);
        let round = (m >> 13) + (((m >> 12) & 1) & (((m & 0xfff) != 0) as u32 | ((m >> 13) & 1)));
        return sign | round as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h as u16
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Write `shape` with random weights to `path`, 2-D weights in F16 (or F32 when `f32` is set).
/// Streams tensor by tensor, so memory stays small whatever the model size.
pub fn synth(shape: &LlamaShape, path: &Path, f32_weights: bool, seed: u64) -> io::Result<()> {
    let weight_type = if f32_weights { GGML_F32 } else { GGML_F16 };
    let mut w = GgufWriter::new();
    shape.write_metadata(&mut w, if f32_weights { 0 } else { 1 });
    write_synthetic_vocab(&mut w, shape.vocab);
    write_random(w, &shape.tensor_decls(weight_type), shape.rope_factors(), path, seed)
}

/// Write a published hybrid Mamba-2 shape (Nemotron-H) with random weights, as [`synth`] does.
pub fn synth_hybrid(model: &HybridModel, path: &Path, f32_weights: bool, seed: u64) -> io::Result<()> {
    let weight_type = if f32_weights { GGML_F32 } else { GGML_F16 };
    let mut w = GgufWriter::new();
    model.write_metadata(&mut w, if f32_weights { 0 } else { 1 });
    write_synthetic_vocab(&mut w, model.vocab());
    write_random(w, &model.tensor_decls(weight_type), None, path, seed)
}

/// What a tensor that is not a random matrix holds: norms one, biases zero, and a Mamba layer's
/// decay `A` negative and its skip `D` one as trained models have them (a positive `A` would
/// make the scan's state grow without bound).
fn constant(name: &str, index: u64) -> Option<f32> {
    if name.ends_with("ssm_a") {
        return Some(-((index % 256) as f32 + 1.0));
    }
    if name.ends_with("ssm_d") || name.ends_with("norm.weight") {
        return Some(1.0);
    }
    // softplus(−4.6) ≈ 0.01, a time step in the range trained models start from.
    if name.ends_with("ssm_dt.bias") {
        return Some(-4.6);
    }
    name.ends_with(".bias").then_some(0.0)
}

/// Stream `decls` with random values (constants where [`constant`] names one, the RoPE factors
/// `rope` where asked) after the metadata in `w`.
fn write_random(
    w: GgufWriter,
    decls: &[TensorDecl],
    rope: Option<Vec<f32>>,
    path: &Path,
    seed: u64,
) -> io::Result<()> {
    let mut rng = XorShift(seed | 1);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    w.write_streaming(path, decls, |i, out| {
        let d = &decls[i];
        if d.name == "rope_freqs.weight" {
            for f in rope.as_deref().unwrap_or_default() {
                out.write_all(&f.to_le_bytes())?;
            }
            return Ok(());
        }
        let n: u64 = d.dims.iter().product();
        let scale = 0.5 / (d.dims[0] as f32).sqrt();
        let mut done = 0;
        while done < n {
            let chunk = (n - done).min(1 << 18);
            buf.clear();
            for j in done..done + chunk {
                let v = constant(&d.name, j).unwrap_or_else(|| rng.unit() * scale);
                if d.ggml_type == GGML_F16 {
                    buf.extend_from_slice(&f16_bits(v).to_le_bytes());
                } else {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            out.write_all(&buf)?;
            done += chunk;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_bits(0.0), 0);
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(f16_bits(1e9), 0x7c00);
        assert_eq!(f16_bits(0.1), 0x2e66);
        assert_eq!(f16_bits(6.0e-5), 0x03ef); // values checked against numpy
        assert_eq!(f16_bits(3.0e-6), 0x0032);
    }
}
