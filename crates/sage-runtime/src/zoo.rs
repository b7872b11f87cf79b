//! The model zoo: which models SAGE may use, declared in TOML.
//!
//! ```toml
//! profile = "local"          # memory budget: thor, legion, sprout or local
//!
//! [[model]]
//! id = "gemma-270m"
//! engine = "gguf"            # gguf (a llama.cpp file), hf (a safetensors folder), openai (a URL)
//! path = "gemma-3-270m-q4_k_m.gguf"   # relative to the zoo file
//! role = "small"             # the metabolic states keep roles hot
//! context = 2048
//! parallel = 4               # sequences decoded together (default: the command's --parallel)
//! load = "auto"              # auto, mmap or read (default: the command's --load)
//! expected_mib = 320         # until a load has been measured
//! keep_alive_s = 300
//! pinned = false
//! [model.quality]            # prior quality per situation class, [0, 1]
//! "text.question" = 0.6
//! "text.alert" = 0.7
//!
//! [[model]]
//! id = "embedder"            # an embedding model (NVIDIA's Llama-Nemotron embedding kind)
//! engine = "hf"
//! path = "llama-nemotron-embed-1b-v2"
//! role = "embedding"         # serves embeddings (`sage` on /v1/embeddings), never generation;
//! expected_mib = 2400        # it names no quality, and may not be the first model
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a model is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// A GGUF file through llama.cpp.
    Gguf,
    /// A Hugging Face safetensors folder (imported to GGUF once).
    Hf,
    /// A remote OpenAI-compatible server.
    Openai,
}

/// One model of the zoo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Unique id.
    pub id: String,
    /// Engine.
    pub engine: EngineKind,
    /// File or folder (local engines), resolved against the zoo file's folder.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Base URL (remote engines).
    #[serde(default)]
    pub url: Option<String>,
    /// Model name at the remote server.
    #[serde(default)]
    pub remote_model: Option<String>,
    /// Environment variable holding the remote server's API key, if it needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Role (`small`, `large`, `primary`...), kept hot by the states that name it.
    #[serde(default = "default_role")]
    pub role: String,
    /// Modalities (`text`...).
    #[serde(default = "default_modalities")]
    pub modalities: Vec<String>,
    /// Context window to open, tokens.
    #[serde(default = "default_context")]
    pub context: u32,
    /// Sequences decoded together (default: the command's `--parallel`); the KV cache holds a
    /// context window for each.
    #[serde(default)]
    pub parallel: Option<u32>,
    /// How the weights come into memory (default: the command's `--load`).
    #[serde(default)]
    pub load: Option<sage_llm::LoadMode>,
    /// Prior quality per situation class; the model serves exactly these classes (none for an
    /// embedding model).
    #[serde(default)]
    pub quality: BTreeMap<String, f64>,
    /// Expected resident memory in MiB, used until a load has been measured.
    pub expected_mib: u64,
    /// Expected load seconds, used until a load has been measured.
    #[serde(default = "default_load_s")]
    pub expected_load_s: f64,
    /// Unload after this many idle seconds (unless pinned or kept hot).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: f64,
    /// Never evicted.
    #[serde(default)]
    pub pinned: bool,
    /// A chat template file (Jinja) in place of the model file's, resolved against the zoo
    /// file's folder (llama-server's `--chat-template-file`).
    #[serde(default)]
    pub chat_template: Option<PathBuf>,
}

fn default_role() -> String {
    "primary".into()
}
fn default_modalities() -> Vec<String> {
    vec!["text".into()]
}
fn default_context() -> u32 {
    2048
}
fn default_load_s() -> f64 {
    1.0
}
fn default_keep_alive() -> f64 {
    300.0
}

/// The role of a model that embeds and does not generate.
pub const EMBEDDING_ROLE: &str = "embedding";

impl ModelSpec {
    /// Whether it is an embedding model (role [`EMBEDDING_ROLE`]): it serves embeddings and no
    /// situation class.
    pub fn embeds_only(&self) -> bool {
        self.role == EMBEDDING_ROLE
    }

    /// Expected bytes.
    pub fn expected_bytes(&self) -> u64 {
        self.expected_mib << 20
    }
}

/// The zoo file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zoo {
    /// Platform profile name (memory budget).
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Models.
    #[serde(rename = "model", default)]
    pub models: Vec<ModelSpec>,
}

fn default_profile() -> String {
    "local".into()
}

/// A zoo that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    /// Not valid TOML or not a zoo.
    #[error("zoo {path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A model is declared wrongly.
    #[error("zoo {path}: model {model}: {message}")]
    Model {
        /// File.
        path: String,
        /// Model id.
        model: String,
        /// What was wrong.
        message: String,
    },
}

impl Zoo {
    /// Parse a zoo; `origin` names it in errors and relative paths resolve against `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, ZooError> {
        let mut zoo: Zoo = toml::from_str(text)
            .map_err(|e| ZooError::Parse { path: origin.into(), message: e.to_string() })?;
        for m in &mut zoo.models {
            for p in [&mut m.path, &mut m.chat_template].into_iter().flatten() {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        zoo.validate(origin)?;
        Ok(zoo)
    }

    fn validate(&self, origin: &str) -> Result<(), ZooError> {
        let bad = |m: &ModelSpec, message: String| ZooError::Model {
            path: origin.into(),
            model: m.id.clone(),
            message,
        };
        if self.models.is_empty() {
            return Err(ZooError::Parse { path: origin.into(), message: "no [[model]] declared".into() });
        }
        for (i, m) in self.models.iter().enumerate() {
            if m.id.is_empty() || m.id.chars().any(|c| c.is_whitespace()) {
                return Err(bad(m, "the id must be non-empty and without spaces".into()));
            }
            if self.models[..i].iter().any(|o| o.id == m.id) {
                return Err(bad(m, "declared twice".into()));
            }
            match m.engine {
                EngineKind::Gguf | EngineKind::Hf if m.path.is_none() => {
                    return Err(bad(m, "a local engine needs `path`".into()))
                }
                EngineKind::Openai if m.url.is_none() => {
                    return Err(bad(m, "engine openai needs `url`".into()))
                }
                _ => {}
            }
            match (m.embeds_only(), m.quality.is_empty()) {
                (false, true) => {
                    return Err(bad(m, "`quality` must name at least one situation class".into()))
                }
                (true, false) => {
                    return Err(bad(m, "an embedding model serves no situation class: leave out `quality`".into()))
                }
                (true, true) if i == 0 => {
                    return Err(bad(
                        m,
                        "the first model is the zoo's default for generation: declare the embedding model after it"
                            .into(),
                    ))
                }
                _ => {}
            }
            if let Some((c, q)) = m.quality.iter().find(|(_, q)| !(0.0..=1.0).contains(*q)) {
                return Err(bad(m, format!("quality for {c} is {q}, expected [0, 1]")));
            }
            if m.context < 64 {
                return Err(bad(m, format!("context {} is too small (at least 64)", m.context)));
            }
            if let Some(p) = m.parallel.filter(|p| !(1..=64).contains(p)) {
                return Err(bad(m, format!("parallel {p} is outside 1..=64")));
            }
            if !(m.keep_alive_s >= 0.0 && m.expected_load_s >= 0.0) {
                return Err(bad(m, "keep_alive_s and expected_load_s must be non-negative".into()));
            }
        }
        Ok(())
    }

    /// The model called `id`.
    pub fn get(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }
}

/// A platform's memory for models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// What the machine is.
    pub description: String,
    /// Bytes SAGE may fill with models in WAKE (other states take their policy's share).
    pub model_bytes: u64,
}

const GIB: u64 = 1 << 30;

/// The largest default context window (Ollama's default; llama-server takes the trained one,
/// which for the seed's model would be a 128k-token cache per sequence).
pub const DEFAULT_WINDOW_CAP: u32 = 4096;
/// The smallest window the default ever shrinks to.
pub const MIN_WINDOW: u32 = 512;

/// A model's default context window and why: its trained context, at most
/// [`DEFAULT_WINDOW_CAP`], halved while the KV cache for `sequences` windows would take more than
/// a quarter of the memory budget (never below [`MIN_WINDOW`]). `kv_per_token` is the cache's
/// bytes per token (0 when unknown: no memory cap).
pub fn default_window(train: u32, kv_per_token: u64, sequences: u32, budget: u64) -> (u32, String) {
    let train = if train == 0 { DEFAULT_WINDOW_CAP } else { train };
    let mut window = train.min(DEFAULT_WINDOW_CAP);
    let kv = |w: u32| kv_per_token.saturating_mul(w as u64).saturating_mul(sequences.max(1) as u64);
    let mut capped_by_memory = false;
    while window > MIN_WINDOW && kv(window) > budget / 4 {
        window /= 2;
        capped_by_memory = true;
    }
    let window = window.max(MIN_WINDOW.min(train));
    let why = if capped_by_memory {
        format!(
            "context {window} tokens: trained {train}, halved until its KV cache for {} sequences ({} MiB) fits a quarter of the {} MiB budget",
            sequences.max(1),
            kv(window) >> 20,
            budget >> 20
        )
    } else if window < train {
        format!(
            "context {window} tokens: trained {train}, capped at {DEFAULT_WINDOW_CAP} (--ctx or the zoo's `context` sets more); KV cache for {} sequences {} MiB",
            sequences.max(1),
            kv(window) >> 20
        )
    } else {
        format!(
            "context {window} tokens: the trained context; KV cache for {} sequences {} MiB",
            sequences.max(1),
            kv(window) >> 20
        )
    };
    (window, why)
}

impl Profile {
    /// A shipped profile by name; `local` needs the machine's memory (see [`Profile::local`]).
    pub fn named(name: &str) -> Option<Self> {
        let p = |name: &str, description: &str, model_bytes| Self {
            name: name.into(),
            description: description.into(),
            model_bytes,
        };
        Some(match name {
            // 128 GB unified memory; leave room for perception, the OS and CUDA.
            "thor" => p("thor", "Jetson AGX Thor, 128 GB unified memory", 96 * GIB),
            // 24 GB of VRAM on the RTX 4090; the CUDA context and buffers take the rest.
            "legion" => p("legion", "RTX 4090 workstation, 24 GB VRAM", 20 * GIB),
            // 8 GB shared with the OS and the robot's own stack.
            "sprout" => p("sprout", "Jetson Orin Nano 8 GB, unified memory", 4 * GIB),
            _ => return None,
        })
    }

    /// This machine: half of the memory available now.
    pub fn local(available_bytes: u64) -> Self {
        Self {
            name: "local".into(),
            description: format!("this machine, {} MiB available", available_bytes >> 20),
            model_bytes: available_bytes / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZOO: &str = r#"
profile = "sprout"
[[model]]
id = "small"
engine = "gguf"
path = "small.gguf"
chat_template = "templates/small.jinja"
role = "small"
expected_mib = 300
[model.quality]
"text.question" = 0.5

[[model]]
id = "remote"
engine = "openai"
url = "http://10.0.0.2:8080"
expected_mib = 0
quality = { "text.question" = 0.9 }
"#;

    #[test]
    fn a_zoo_parses_with_paths_resolved() {
        let z = Zoo::parse(ZOO, "zoo.toml", Path::new("/models")).unwrap();
        assert_eq!(z.profile, "sprout");
        assert_eq!(z.models.len(), 2);
        assert_eq!(z.models[0].path.as_deref(), Some(Path::new("/models/small.gguf")));
        assert_eq!(z.models[0].chat_template.as_deref(), Some(Path::new("/models/templates/small.jinja")));
        assert_eq!(z.models[1].chat_template, None);
        assert_eq!(z.models[0].context, 2048);
        assert_eq!(z.get("remote").unwrap().engine, EngineKind::Openai);
    }

    #[test]
    fn bad_zoos_are_typed_errors_naming_the_model() {
        let e = Zoo::parse("[[model]]\nid = 3", "z.toml", Path::new(".")).unwrap_err();
        assert!(matches!(e, ZooError::Parse { .. }), "{e}");
        let dup = format!("{ZOO}\n[[model]]\nid = \"small\"\nengine = \"gguf\"\npath = \"x\"\nexpected_mib = 1\nquality = {{ a = 0.5 }}\n");
        let e = Zoo::parse(&dup, "z.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("model small: declared twice"), "{e}");
        let e = Zoo::parse(
            "[[model]]\nid = \"x\"\nengine = \"gguf\"\nexpected_mib = 1\nquality = { a = 0.5 }",
            "z.toml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs `path`"), "{e}");
        let e = Zoo::parse(
            "[[model]]\nid = \"x\"\nengine = \"gguf\"\npath = \"p\"\nexpected_mib = 1\nquality = { a = 1.5 }",
            "z.toml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected [0, 1]"), "{e}");
        let e = Zoo::parse(
            "[[model]]\nid = \"x\"\nengine = \"gguf\"\npath = \"p\"\nparallel = 0\nexpected_mib = 1\nquality = { a = 0.5 }",
            "z.toml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("model x: parallel 0 is outside 1..=64"), "{e}");
        assert!(Zoo::parse("", "z.toml", Path::new(".")).is_err());
        // An embedding model names no quality and comes after a model that generates.
        let embedder =
            "[[model]]\nid = \"e\"\nengine = \"hf\"\npath = \"f\"\nrole = \"embedding\"\nexpected_mib = 1\n";
        let z = Zoo::parse(&format!("{ZOO}\n{embedder}"), "z.toml", Path::new(".")).unwrap();
        let e = z.get("e").unwrap();
        assert!(e.embeds_only() && e.quality.is_empty());
        assert!(!z.models[0].embeds_only());
        for (zoo, says) in [
            (
                format!("{embedder}[[model]]\nid = \"g\"\nengine = \"gguf\"\npath = \"p\"\nexpected_mib = 1\nquality = {{ a = 0.5 }}\n"),
                "model e: the first model is the zoo's default for generation",
            ),
            (format!("{ZOO}\n{embedder}quality = {{ a = 0.5 }}\n"), "model e: an embedding model serves no situation class"),
            ("[[model]]\nid = \"g\"\nengine = \"gguf\"\npath = \"p\"\nexpected_mib = 1\n".into(), "model g: `quality` must name"),
        ] {
            let e = Zoo::parse(&zoo, "z.toml", Path::new(".")).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn the_example_zoo_parses() {
        let text = include_str!("../../../docs/zoo.example.toml");
        let z = Zoo::parse(text, "docs/zoo.example.toml", Path::new("docs")).unwrap();
        assert_eq!(z.models.len(), 4);
        assert!(z.models[3].embeds_only() && !z.models[..3].iter().any(ModelSpec::embeds_only));
        assert_eq!(z.models[0].parallel, Some(8));
        assert_eq!(z.models[1].parallel, None);
        assert_eq!(z.models[1].load, Some(sage_llm::LoadMode::Read));
        assert_eq!(z.models[0].load, None);
        assert_eq!(z.models[2].engine, EngineKind::Openai);
        assert_eq!(z.models[2].api_key_env.as_deref(), Some("LEGION_API_KEY"));
    }

    #[test]
    fn profiles() {
        assert_eq!(Profile::named("sprout").unwrap().model_bytes, 4 * GIB);
        assert!(Profile::named("thor").unwrap().model_bytes > Profile::named("legion").unwrap().model_bytes);
        assert!(Profile::named("mars").is_none());
        assert_eq!(Profile::local(8 * GIB).model_bytes, 4 * GIB);
    }

    #[test]
    fn the_default_window_is_the_trained_context_capped_by_ollamas_default_and_memory() {
        // Gemma 3 270M: trained 32k, 18 KiB of KV per token: 4096 fits easily.
        let (w, why) = default_window(32768, 18 * 1024, 4, 10 << 30);
        assert_eq!(w, 4096, "{why}");
        assert!(why.contains("capped at 4096"), "{why}");
        // A model trained on 2048 keeps 2048.
        assert_eq!(default_window(2048, 1 << 10, 4, 10 << 30).0, 2048);
        // Nemotron-Nano-4B shape: 32 layers, 8 KV heads of 128: 128 KiB per token; on a 1 GiB
        // budget 4 sequences of 4096 (2 GiB) do not fit a quarter: halved to 512.
        let (w, why) = default_window(131072, 32 * 8 * 256 * 2, 4, 1 << 30);
        assert_eq!(w, 512, "{why}");
        assert!(why.contains("halved"), "{why}");
        // Unknown shape or training: the cap.
        assert_eq!(default_window(0, 0, 1, 1 << 30).0, 4096);
    }
}
