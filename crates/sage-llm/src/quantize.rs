//! Quantization through llama.cpp (`llama_model_quantize`), e.g. F16 → Q4_K_M.
//!
//! One of the crate's two `unsafe` blocks (the other is `llama/weights.rs::cpu_repackers`): an
//! FFI call whose arguments are two NUL-terminated paths and a parameter struct that lives for
//! the duration of the call. It is allowed on that function alone.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Target quantizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    /// 8-bit.
    Q8_0,
    /// 4-bit K-quant, medium (llama.cpp's usual default).
    Q4KM,
    /// 16-bit floats.
    F16,
}

impl Quant {
    /// Parse `q8_0`, `q4_k_m` or `f16` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "q8_0" => Some(Quant::Q8_0),
            "q4_k_m" => Some(Quant::Q4KM),
            "f16" => Some(Quant::F16),
            _ => None,
        }
    }

    fn ftype(self) -> llama_cpp_sys_2::llama_ftype {
        match self {
            Quant::Q8_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
            Quant::Q4KM => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
            Quant::F16 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_F16,
        }
    }
}

/// Quantization failed.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The input is not usable.
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    /// A path cannot be passed to llama.cpp.
    #[error("{0}: path is not valid UTF-8 or contains NUL")]
    Path(PathBuf),
    /// llama.cpp reported a failure.
    #[error("llama.cpp could not quantize {input} to {output} (code {code}); see the log with --log debug")]
    Failed {
        /// Input.
        input: PathBuf,
        /// Output.
        output: PathBuf,
        /// Return code.
        code: u32,
    },
}

/// Quantize `input` (GGUF) into `output` with `threads` threads (0 = all cores).
#[allow(unsafe_code)]
pub fn quantize(input: &Path, output: &Path, quant: Quant, threads: u32) -> Result<(), QuantizeError> {
    // Validate first: llama.cpp should only ever see well-formed files.
    crate::gguf::GgufFile::open(input)?;
    let cpath = |p: &Path| {
        p.to_str().and_then(|s| CString::new(s).ok()).ok_or_else(|| QuantizeError::Path(p.to_path_buf()))
    };
    let (inp, out) = (cpath(input)?, cpath(output)?);
    let _ = crate::llama::backend_for_tools();
    // SAFETY: `llama_model_quantize_default_params` returns a plain struct by value; the two
    // pointers are to NUL-terminated strings and the params struct, all alive across the call,
    // which does not keep them.
    let code = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = quant.ftype();
        params.nthread = threads as i32;
        llama_cpp_sys_2::llama_model_quantize(inp.as_ptr(), out.as_ptr(), &params)
    };
    if code != 0 {
        return Err(QuantizeError::Failed { input: input.to_path_buf(), output: output.to_path_buf(), code });
    }
    Ok(())
}
