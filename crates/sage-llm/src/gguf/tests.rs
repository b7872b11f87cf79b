use super::writer::{GgufWriter, MetaValue, TensorData};
use super::*;

/// A fresh folder per test, removed when the test ends.
fn folder() -> (tempfile::TempDir, impl Fn(&str) -> PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().to_path_buf();
    (d, move |name: &str| root.join(name))
}

fn sample(path: &Path) {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("llama".into()))
        .meta("llama.context_length", MetaValue::U32(4096))
        .meta("tokenizer.ggml.tokens", MetaValue::Strings((0..100).map(|i| format!("t{i}")).collect()))
        .meta("tokenizer.chat_template", MetaValue::Str("{{ messages }}".into()));
    w.tensor(TensorData { name: "a".into(), dims: vec![4, 2], ggml_type: 0, data: vec![1u8; 32] });
    w.tensor(TensorData { name: "b".into(), dims: vec![32], ggml_type: 1, data: vec![2u8; 64] });
    w.write(path).unwrap();
}

#[test]
fn round_trip() {
    let (_dir, tmp) = folder();
    let p = tmp("ok.gguf");
    sample(&p);
    let g = GgufFile::open(&p).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.arch_value("context_length").and_then(Value::as_u64), Some(4096));
    assert_eq!(g.chat_template(), Some("{{ messages }}"));
    match g.get("tokenizer.ggml.tokens").unwrap() {
        Value::Array { of, len, head } => {
            assert_eq!((*of, *len, head.len()), ("string", 100, 8));
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(g.tensors.len(), 2);
    assert_eq!(g.tensor_bytes(), 96);
    assert_eq!(g.parameters(), 40);
    assert_eq!(g.tensor_data("b").unwrap(), vec![2u8; 64]);
}

#[test]
fn bad_files_are_typed_errors() {
    let (_dir, tmp) = folder();
    let p = tmp("ok2.gguf");
    sample(&p);
    let bytes = std::fs::read(&p).unwrap();
    // Truncated in the data section.
    let t = tmp("trunc.gguf");
    std::fs::write(&t, &bytes[..bytes.len() - 40]).unwrap();
    assert!(matches!(GgufFile::open(&t), Err(GgufError::Truncated { .. })), "{:?}", GgufFile::open(&t));
    // Truncated in the header, at every length.
    for cut in [0usize, 3, 4, 10, 30, 60, 200] {
        let t = tmp(&format!("cut{cut}.gguf"));
        std::fs::write(&t, &bytes[..cut.min(bytes.len())]).unwrap();
        let e = GgufFile::open(&t).unwrap_err();
        assert!(e.to_string().contains("cut"), "{e}");
    }
    // Not GGUF.
    let t = tmp("text.gguf");
    std::fs::write(&t, b"hello world, not a model").unwrap();
    assert!(matches!(GgufFile::open(&t), Err(GgufError::NotGguf { .. })));
    // Wrong version.
    let mut v = bytes.clone();
    v[4] = 9;
    let t = tmp("ver.gguf");
    std::fs::write(&t, &v).unwrap();
    assert!(matches!(GgufFile::open(&t), Err(GgufError::Version { version: 9, .. })));
    // Absurd string length.
    let mut v = bytes.clone();
    v[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let t = tmp("huge.gguf");
    std::fs::write(&t, &v).unwrap();
    assert!(matches!(GgufFile::open(&t), Err(GgufError::Malformed { .. })));
    // Missing file.
    assert!(matches!(GgufFile::open(tmp("nope.gguf")), Err(GgufError::Io { .. })));
}

#[test]
fn random_garbage_never_panics() {
    let (_dir, tmp) = folder();
    let mut x: u64 = 0x1234_5678;
    let p = tmp("ok3.gguf");
    sample(&p);
    let good = std::fs::read(&p).unwrap();
    for i in 0..300 {
        let mut b = good.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % b.len();
            b[at] = (x >> 32) as u8;
        }
        let t = tmp(&format!("fuzz{}.gguf", i % 4));
        std::fs::write(&t, &b).unwrap();
        let _ = GgufFile::open(&t);
    }
}

/// Found by the fuzzer (crates/sage-fuzz): sizes that overflowed u64 arithmetic (a panic in a
/// debug build, a wrong bounds check in a release one) are malformed files.
#[test]
fn overflowing_sizes_and_alignments_are_malformed() {
    let (_dir, tmp) = folder();
    let p = tmp("huge.gguf");
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("llama".into()));
    // F32: 2^62 elements is a count that fits, its 2^64 bytes do not.
    w.tensor(TensorData { name: "a".into(), dims: vec![1, 1 << 62], ggml_type: 0, data: vec![] });
    w.write(&p).unwrap();
    let e = GgufFile::open(&p).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    for alignment in [0u32, 3, 1 << 31] {
        let p = tmp(&format!("align{alignment}.gguf"));
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("llama".into()));
        w.meta("general.alignment", MetaValue::U32(alignment));
        w.write(&p).unwrap();
        let e = GgufFile::open(&p).unwrap_err();
        assert!(e.to_string().contains("alignment"), "{alignment}: {e}");
    }
}

#[test]
fn kv_cache_bytes_per_token_follow_the_shape() {
    let (_dir, tmp) = folder();
    let p = tmp("shape.gguf");
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("llama".into()))
        .meta("llama.block_count", MetaValue::U32(32))
        .meta("llama.context_length", MetaValue::U32(131072))
        .meta("llama.embedding_length", MetaValue::U32(3072))
        .meta("llama.attention.head_count", MetaValue::U32(32))
        .meta("llama.attention.head_count_kv", MetaValue::U32(8));
    w.write(&p).unwrap();
    let g = GgufFile::open(&p).unwrap();
    // 32 layers × 8 KV heads × (96 + 96) × 2 bytes.
    assert_eq!(g.kv_bytes_per_token(), Some(32 * 8 * 192 * 2));
    assert_eq!(g.train_context(), Some(131072));
}

/// A file may claim any number of layers: counting its recurrent state reads no more than the
/// per-layer values it holds, and a count of billions is arithmetic, not a loop.
#[test]
fn recurrent_state_of_a_hostile_layer_count_is_counted_without_a_loop() {
    let (_dir, tmp) = folder();
    let p = tmp("hybrid.gguf");
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("mamba2".into()))
        .meta("mamba2.block_count", MetaValue::U32(u32::MAX))
        .meta("mamba2.ssm.conv_kernel", MetaValue::U32(4))
        .meta("mamba2.ssm.inner_size", MetaValue::U32(64))
        .meta("mamba2.ssm.state_size", MetaValue::U32(16))
        .meta("mamba2.ssm.group_count", MetaValue::U32(1));
    w.write(&p).unwrap();
    let g = GgufFile::open(&p).unwrap();
    assert_eq!(g.layer_kinds().recurrent, u64::from(u32::MAX));
    assert_eq!(g.recurrent_bytes_per_sequence(), u64::from(u32::MAX) * (3 * 96 + 16 * 64) * 4);
    // Per-layer arrays: read as far as they go.
    let p = tmp("layers.gguf");
    let mut w = GgufWriter::new();
    w.meta("general.architecture", MetaValue::Str("nemotron_h".into()))
        .meta("nemotron_h.block_count", MetaValue::U32(u32::MAX))
        .meta("nemotron_h.attention.head_count_kv", MetaValue::I32s(vec![0, 2, 0, 0]))
        .meta("nemotron_h.feed_forward_length", MetaValue::I32s(vec![0, 0, 64, 0]));
    w.write(&p).unwrap();
    let g = GgufFile::open(&p).unwrap();
    let k = g.layer_kinds();
    assert_eq!((k.attention, k.ffn), (1, 1));
    assert_eq!(g.recurrent_bytes_per_sequence(), 0, "no ssm keys");
}
