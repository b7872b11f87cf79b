//! How a model's weights come into memory: mapped from the file, or read into the engine's
//! buffers.
//!
//! llama.cpp's CPU backend repacks quantized matrices into layouts for its fastest kernels (AMX
//! tiles on recent Xeons, interleaved blocks for AVX2 and NEON) when the CPU offers them. A
//! repacked matrix is a copy: with the file memory-mapped, the mapped pages it was read from stay
//! resident beside it, so such a model costs about twice its size (the Nemotron-Nano-4B shape at
//! Q4_K_M: 5.0 GiB peak instead of 3.0 GiB on this project's Xeon). Reading the file instead
//! leaves one copy. Mapping loads faster and shares pages with other processes, so `Auto` reads
//! only when most of the weights will be repacked (decision 0008).
//!
//! The decision is a value (`LoadPlan`) computed from the file's tensor list and the names of
//! the CPU backend's repacking buffer types; only `cpu_repackers` asks llama.cpp.

use serde::{Deserialize, Serialize};

use crate::gguf::{GgufFile, TensorInfo};

/// How the weights come into memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// Read when this CPU's backend repacks at least half of the weight bytes, else map.
    #[default]
    Auto,
    /// Memory-map the file (llama.cpp's default): the fastest load, pages shared with the page
    /// cache and other processes.
    Mmap,
    /// Read the file into the engine's buffers: one copy of every weight, slower to load.
    Read,
}

/// What was decided for one model file, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadPlan {
    /// The mode asked for.
    pub asked: LoadMode,
    /// Whether layers are offloaded to a GPU (then `Auto` maps, as llama.cpp does).
    pub gpu: bool,
    /// Whether the file is memory-mapped (else read).
    pub mmap: bool,
    /// Bytes of weights expected to be repacked by the CPU backend.
    pub repacked_bytes: u64,
    /// Bytes of all weights.
    pub weight_bytes: u64,
    /// The CPU backend's repacking buffer types (llama.cpp's names, e.g. `AMX`, `CPU_REPACK`).
    pub repackers: Vec<String>,
}

impl LoadPlan {
    /// The decision for a file on this machine (asks llama.cpp which repackers this CPU has).
    pub fn for_file(gguf: &GgufFile, asked: LoadMode, gpu_layers: u32) -> Self {
        let repackers = super::backend().map(|_| cpu_repackers()).unwrap_or_default();
        plan(asked, gpu_layers, &gguf.tensors, &repackers)
    }

    /// One line for logs and `--json`.
    pub fn reason(&self) -> String {
        let how = if self.mmap { "mapped" } else { "read" };
        let share = if self.weight_bytes == 0 {
            0.0
        } else {
            100.0 * self.repacked_bytes as f64 / self.weight_bytes as f64
        };
        let why = match self.asked {
            LoadMode::Mmap | LoadMode::Read => "as configured".to_string(),
            LoadMode::Auto if self.gpu => "layers are offloaded to the GPU".to_string(),
            LoadMode::Auto if self.repackers.is_empty() => "the CPU backend repacks nothing".to_string(),
            LoadMode::Auto => format!(
                "{} repacks about {:.0}% of the weights ({} MiB)",
                self.repackers.join("+"),
                share,
                self.repacked_bytes >> 20
            ),
        };
        format!("weights {how}: {why}")
    }
}

/// ggml type ids with AMX kernels (`qtype_has_amx_kernels` in ggml-cpu/amx/common.h).
const AMX_TYPES: &[u32] = &[2, 3, 8, 12, 13, 14, 23];
/// ggml type ids the generic CPU repacker handles on this architecture
/// (`ggml_repack_get_optimal_repack_type` in ggml-cpu/repack.cpp). x86 (AVX2, AVX-512): Q4_0,
/// Q2_K, Q4_K, IQ4_NL, MXFP4.
#[cfg(target_arch = "x86_64")]
const REPACK_TYPES: &[u32] = &[2, 10, 12, 20, 39];
/// Arm (NEON with dot product or int8 matmul): Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4.
#[cfg(not(target_arch = "x86_64"))]
const REPACK_TYPES: &[u32] = &[2, 8, 12, 13, 14, 20, 39];

/// Whether a repacker takes a tensor: a matrix (or stack of expert matrices) used in a matrix
/// product, of a type the repacker has kernels for. The token embedding is looked up row by row
/// (`get_rows`) and stays where it is; a tied output head is a second tensor llama.cpp creates
/// from it and is not in the file's list, so it is not counted (its copy exists either way).
fn repacked_by(t: &TensorInfo, repacker: &str) -> bool {
    let matrix = t.dims.len() >= 2 && t.dims.iter().skip(1).any(|&d| d > 1);
    if !matrix || t.name.starts_with("token_embd") {
        return false;
    }
    match repacker {
        "AMX" => AMX_TYPES.contains(&t.ggml_type),
        "CPU_REPACK" => REPACK_TYPES.contains(&t.ggml_type),
        // KleidiAI (Arm) and other backends: not predicted; `Mmap`/`Read` decide explicitly.
        _ => false,
    }
}

/// Decide how to load a file with these tensors. `gpu_layers > 0` keeps llama.cpp's default
/// (mapping: offloaded layers are uploaded from the mapped pages, and the CPU repacks little).
pub fn plan(asked: LoadMode, gpu_layers: u32, tensors: &[TensorInfo], repackers: &[String]) -> LoadPlan {
    let weight_bytes: u64 = tensors.iter().map(|t| t.bytes).sum();
    let repacked_bytes: u64 =
        tensors.iter().filter(|t| repackers.iter().any(|r| repacked_by(t, r))).map(|t| t.bytes).sum();
    let mmap = match asked {
        LoadMode::Mmap => true,
        LoadMode::Read => false,
        LoadMode::Auto => gpu_layers > 0 || repacked_bytes.saturating_mul(2) < weight_bytes,
    };
    LoadPlan { asked, gpu: gpu_layers > 0, mmap, repacked_bytes, weight_bytes, repackers: repackers.to_vec() }
}

/// Names of the CPU backend's extra (repacking) buffer types in this build on this CPU, in
/// llama.cpp's order of preference; empty where there are none.
pub fn cpu_repackers() -> Vec<String> {
    use llama_cpp_sys_2 as sys;
    type ExtraBufts = unsafe extern "C" fn(sys::ggml_backend_dev_t) -> *mut sys::ggml_backend_buffer_type_t;
    let mut names = vec![];
    // SAFETY: these are ggml's registry queries, valid at any time after the process started
    // (the registry initialises itself); every pointer is checked for null before use. The
    // procedure looked up by name has the signature of `ggml_backend_dev_get_extra_bufts_t`
    // (ggml-backend.h), and returns a null-terminated array owned by ggml for the process's
    // lifetime; buffer type names are static C strings.
    #[allow(unsafe_code)]
    unsafe {
        let dev = sys::ggml_backend_dev_by_type(sys::GGML_BACKEND_DEVICE_TYPE_CPU);
        if dev.is_null() {
            return names;
        }
        let reg = sys::ggml_backend_dev_backend_reg(dev);
        if reg.is_null() {
            return names;
        }
        let f = sys::ggml_backend_reg_get_proc_address(reg, c"ggml_backend_dev_get_extra_bufts".as_ptr());
        if f.is_null() {
            return names;
        }
        let f: ExtraBufts = std::mem::transmute::<*mut std::os::raw::c_void, ExtraBufts>(f);
        let mut p = f(dev);
        while !p.is_null() && !(*p).is_null() {
            let name = sys::ggml_backend_buft_name(*p);
            if !name.is_null() {
                names.push(std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned());
            }
            p = p.add(1);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dims: &[u64], ggml_type: u32, bytes: u64) -> TensorInfo {
        TensorInfo { name: name.into(), dims: dims.to_vec(), ggml_type, offset: 0, bytes }
    }

    /// Nemotron-like: every layer matrix Q4_K/Q6_K, a separate output head.
    fn untied_q4k() -> Vec<TensorInfo> {
        vec![
            t("token_embd.weight", &[3072, 128256], 12, 220),
            t("blk.0.attn_q.weight", &[3072, 4096], 12, 500),
            t("blk.0.ffn_down.weight", &[9216, 3072], 14, 700),
            t("blk.0.attn_norm.weight", &[3072], 0, 1),
            t("output.weight", &[3072, 128256], 14, 320),
        ]
    }

    /// Gemma-270M-like: a tied Q8_0 embedding dominates; layers mostly Q5_0.
    fn tied_q8_embedding() -> Vec<TensorInfo> {
        vec![
            t("token_embd.weight", &[640, 262144], 8, 171),
            t("blk.0.attn_q.weight", &[640, 1024], 6, 40),
            t("blk.0.ffn_down.weight", &[2048, 640], 12, 22),
            t("blk.0.attn_norm.weight", &[640], 0, 1),
        ]
    }

    fn amx() -> Vec<String> {
        vec!["AMX".into(), "CPU_REPACK".into()]
    }

    #[test]
    fn auto_reads_when_most_weights_are_repacked() {
        let p = plan(LoadMode::Auto, 0, &untied_q4k(), &amx());
        assert!(!p.mmap);
        assert_eq!(p.repacked_bytes, 1520);
        assert_eq!(p.weight_bytes, 1741);
        assert!(p.reason().starts_with("weights read: AMX+CPU_REPACK repacks about 87%"), "{}", p.reason());
    }

    #[test]
    fn auto_maps_when_the_repacked_share_is_small() {
        let p = plan(LoadMode::Auto, 0, &tied_q8_embedding(), &amx());
        assert!(p.mmap);
        assert_eq!(p.repacked_bytes, 22);
    }

    #[test]
    fn auto_maps_without_repackers_or_with_gpu_layers() {
        assert!(plan(LoadMode::Auto, 0, &untied_q4k(), &[]).mmap);
        assert_eq!(
            plan(LoadMode::Auto, 0, &untied_q4k(), &[]).reason(),
            "weights mapped: the CPU backend repacks nothing"
        );
        let gpu = plan(LoadMode::Auto, 99, &untied_q4k(), &amx());
        assert!(gpu.mmap);
        assert_eq!(gpu.reason(), "weights mapped: layers are offloaded to the GPU");
    }

    #[test]
    fn explicit_modes_are_obeyed() {
        assert!(plan(LoadMode::Mmap, 0, &untied_q4k(), &amx()).mmap);
        let r = plan(LoadMode::Read, 0, &tied_q8_embedding(), &[]);
        assert!(!r.mmap);
        assert_eq!(r.reason(), "weights read: as configured");
    }

    #[test]
    fn each_repacker_takes_only_its_types() {
        // Q4_1 has AMX kernels but no generic repack (on any architecture); IQ4_NL the other way
        // round.
        let q4_1 = [t("blk.0.ffn_up.weight", &[64, 64], 3, 10)];
        let iq4_nl = [t("blk.0.ffn_up.weight", &[64, 64], 20, 10)];
        assert_eq!(plan(LoadMode::Auto, 0, &q4_1, &["AMX".into()]).repacked_bytes, 10);
        assert_eq!(plan(LoadMode::Auto, 0, &q4_1, &["CPU_REPACK".into()]).repacked_bytes, 0);
        assert_eq!(plan(LoadMode::Auto, 0, &iq4_nl, &["CPU_REPACK".into()]).repacked_bytes, 10);
        assert_eq!(plan(LoadMode::Auto, 0, &iq4_nl, &["CPU_KLEIDIAI".into()]).repacked_bytes, 0);
    }

    #[test]
    fn this_build_names_its_repackers() {
        super::super::backend().unwrap();
        let names = cpu_repackers();
        for n in &names {
            assert!(!n.is_empty() && n.is_ascii(), "{n:?}");
        }
        // llama.cpp is built for this CPU (decision 0003) with its generic repacker, which
        // serves every AVX2 machine.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert!(names.iter().any(|n| n == "CPU_REPACK"), "{names:?}");
        }
    }
}
