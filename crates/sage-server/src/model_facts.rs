//! What a model file says about itself, in the shape Ollama's clients read: the family, the
//! parameter size and the quantization of `/api/tags`, `/api/ps` and `/api/show`'s `details`, the
//! GGUF metadata of `/api/show`'s `model_info` (where clients look up `<architecture>.context_length`)
//! and the chat template. Read once per model when the server starts, from the GGUF header only.

use std::collections::BTreeMap;
use std::path::Path;

use sage_llm::gguf::{file_type_name, GgufFile, Value as Meta};
use serde_json::{json, Map, Value};

/// Strings longer than this stay out of `model_info` (Ollama leaves out the long ones too).
const MAX_INFO_STRING: usize = 256;

/// One model's facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ModelFacts {
    /// `general.architecture` (`llama`, `gemma3`...).
    pub family: String,
    /// Parameters as Ollama writes them (`8.0B`, `268.10M`).
    pub parameter_size: String,
    /// The file type (`Q4_K_M`, `F16`...).
    pub quantization_level: String,
    /// Every scalar metadata entry but the chat template, with `general.parameter_count` added
    /// when missing.
    pub info: Map<String, Value>,
    /// The chat template the file carries (empty: none, a base model).
    pub template: String,
    /// 64 hex digits that name this model file as it is now (see [`identity_digest`]).
    pub digest: String,
}

impl ModelFacts {
    /// The facts of the GGUF at `path`; `None` when it is not one (a remote model, an HF folder
    /// that has not been imported, a missing file), logged at debug.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let file = match GgufFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no model facts");
                return None;
            }
        };
        Some(Self::of(&file))
    }

    /// The facts of a parsed header.
    pub(crate) fn of(file: &GgufFile) -> Self {
        let parameters =
            file.get("general.parameter_count").and_then(Meta::as_u64).unwrap_or(file.parameters());
        let mut info: Map<String, Value> = file
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != "tokenizer.chat_template")
            .filter_map(|(k, v)| Some((k.clone(), scalar(v)?)))
            .collect();
        info.insert("general.parameter_count".into(), json!(parameters));
        Self {
            family: file.architecture().unwrap_or_default().to_string(),
            parameter_size: human_number(parameters),
            quantization_level: file
                .get("general.file_type")
                .and_then(Meta::as_u64)
                .map(|t| file_type_name(t).to_string())
                .unwrap_or_default(),
            info,
            template: file.chat_template().unwrap_or_default().to_string(),
            digest: String::new(),
        }
    }

    /// Ollama's `details` object.
    pub(crate) fn details(&self, format: &str) -> Value {
        let families: Vec<&str> = if self.family.is_empty() { vec![] } else { vec![&self.family] };
        json!({
            "parent_model": "",
            "format": format,
            "family": self.family,
            "families": families,
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        })
    }
}

/// The facts of every model, by id: what its GGUF says (nothing for a model without one) and
/// its digest.
pub(crate) fn read_all<'a>(
    models: impl Iterator<Item = &'a sage_runtime::ModelSpec>,
) -> BTreeMap<String, ModelFacts> {
    models
        .map(|m| {
            let (id, path) = (m.id.as_str(), m.path.as_deref());
            let mut facts = ModelFacts {
                digest: identity_digest(id, path),
                ..path.and_then(ModelFacts::read).unwrap_or_default()
            };
            // A template given in place of the file's (`chat_template`) is the model's.
            if let Some(t) = m.chat_template.as_deref().and_then(|f| std::fs::read_to_string(f).ok()) {
                facts.template = t;
            }
            (id.to_string(), facts)
        })
        .collect()
}

/// Ollama's clients show a model's digest (`ollama list` prints its first 12 digits); Ollama's
/// is the SHA-256 of the model's manifest. SAGE reads no manifest and does not hash gigabytes at
/// start, so its digest names the file as it is now: four FNV-1a hashes (different offsets) of
/// the model id, the path, the file's size and its modification time. A changed or replaced
/// file gets a new digest; it is not a checksum of the contents.
pub(crate) fn identity_digest(id: &str, path: Option<&Path>) -> String {
    let mut identity = id.as_bytes().to_vec();
    if let Some(p) = path {
        identity.extend_from_slice(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            identity.extend_from_slice(&m.len().to_le_bytes());
            let modified = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            identity.extend_from_slice(&modified.map_or(0, |d| d.as_nanos()).to_le_bytes());
        }
    }
    (0u64..4)
        .map(|k| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for b in &identity {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// A metadata value as JSON, if it is a scalar (arrays such as the vocabulary are left out, as
/// Ollama does unless asked to be verbose).
fn scalar(v: &Meta) -> Option<Value> {
    Some(match v {
        Meta::U(x) => json!(x),
        Meta::I(x) => json!(x),
        // Stored as f32 in the file: written as the f32 it is (1e-6, not 9.99999997e-7).
        Meta::F(x) if f64::from(*x as f32) == *x => {
            json!((*x as f32).to_string().parse::<f64>().unwrap_or(*x))
        }
        Meta::F(x) => json!(x),
        Meta::Bool(x) => json!(x),
        Meta::Str(s) if s.len() <= MAX_INFO_STRING => json!(s),
        Meta::Str(_) | Meta::Array { .. } => return None,
    })
}

/// A count as Ollama writes it: whole numbers of billions or millions without decimals (`3B`),
/// others with one decimal for billions (`8.0B`) and two for millions (`268.10M`), thousands whole
/// (`512K`).
pub(crate) fn human_number(n: u64) -> String {
    const THOUSAND: f64 = 1e3;
    const MILLION: f64 = 1e6;
    const BILLION: f64 = 1e9;
    let x = n as f64;
    let whole = |v: f64| v == v.floor();
    if x >= BILLION {
        let v = x / BILLION;
        if whole(v) {
            format!("{v:.0}B")
        } else {
            format!("{v:.1}B")
        }
    } else if x >= MILLION {
        let v = x / MILLION;
        if whole(v) {
            format!("{v:.0}M")
        } else {
            format!("{v:.2}M")
        }
    } else if x >= THOUSAND {
        format!("{:.0}K", x / THOUSAND)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sage_llm::gguf::writer::{GgufWriter, MetaValue, TensorData};

    #[test]
    fn a_gguf_header_gives_family_size_quantization_info_and_template() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("general.file_type", MetaValue::U32(15))
            .meta("llama.context_length", MetaValue::U32(131_072))
            .meta("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(1e-5))
            .meta("tokenizer.ggml.tokens", MetaValue::Strings((0..100).map(|i| format!("t{i}")).collect()))
            .meta(
                "tokenizer.chat_template",
                MetaValue::Str("{% for m in messages %}{{ tools }}{% endfor %}".into()),
            );
        w.tensor(TensorData {
            name: "a".into(),
            dims: vec![32, 40],
            ggml_type: 0,
            data: vec![0u8; 32 * 40 * 4],
        });
        w.write(&path).unwrap();
        let f = ModelFacts::read(&path).unwrap();
        assert_eq!(
            (f.family.as_str(), f.parameter_size.as_str(), f.quantization_level.as_str()),
            ("llama", "1K", "Q4_K_M")
        );
        assert_eq!(f.info["llama.context_length"], json!(131_072));
        assert_eq!(f.info["general.parameter_count"], json!(1280));
        assert_eq!(f.info["llama.attention.layer_norm_rms_epsilon"].as_f64(), Some(1e-5));
        // Arrays and the template stay out of model_info; the template is given whole.
        assert!(
            !f.info.contains_key("tokenizer.ggml.tokens") && !f.info.contains_key("tokenizer.chat_template")
        );
        assert!(f.template.starts_with("{% for m"));
        let d = f.details("gguf");
        assert_eq!(d["families"], json!(["llama"]));
        assert_eq!(d["format"], "gguf");
        // Not a GGUF, or no file: no facts, no panic.
        std::fs::write(dir.path().join("text.gguf"), b"not a model").unwrap();
        assert!(ModelFacts::read(&dir.path().join("text.gguf")).is_none());
        assert!(ModelFacts::read(&dir.path().join("missing.gguf")).is_none());
        assert!(ModelFacts::read(dir.path()).is_none());
    }

    #[test]
    fn a_digest_is_64_hex_digits_stable_for_a_file_and_new_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, b"one").unwrap();
        let a = identity_digest("m", Some(&path));
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(a, identity_digest("m", Some(&path)));
        assert_ne!(a, identity_digest("other", Some(&path)));
        std::fs::write(&path, b"longer").unwrap();
        assert_ne!(a, identity_digest("m", Some(&path)));
        // A remote model (no file) has one too.
        assert_eq!(identity_digest("remote", None).len(), 64);
    }

    #[test]
    fn counts_are_written_as_ollama_writes_them() {
        for (n, s) in [
            (8_030_261_248, "8.0B"),
            (3_000_000_000, "3B"),
            (268_098_176, "268.10M"),
            (137_000_000, "137M"),
            (512_000, "512K"),
            (999, "999"),
        ] {
            assert_eq!(human_number(n), s, "{n}");
        }
    }
}
