//! A mixture's experts published fused, one 3-D tensor for all experts (Qwen3-VL-MoE):
//! `experts.gate_up_proj` (gate then up) and `experts.down_proj`. The published checkpoints hold
//! each expert's matrix as input × output (`[experts, hidden, 2·width]` and
//! `[experts, width, hidden]`); transformers 5 saves them as `nn.Linear` weights, output × input
//! (`[experts, 2·width, hidden]`, `[experts, hidden, width]`). llama.cpp's `ffn_*_exps` hold
//! output × input per expert, so the published layout is transposed and the gate and up halves
//! are cut apart. Which layout a folder has is read from both tensors' shapes: one of them is
//! always unambiguous (a width equal to the hidden size and twice the width equal to it cannot
//! both hold).

use std::collections::HashMap;

use super::{Source, StTensor, Transform};

/// Which matrices of a fused tensor a GGUF tensor takes: of each of `count` matrices of
/// `rows` × `cols`, the rows `from..from + take`, or, `transposed`, those columns, each written
/// as a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Cut {
    count: u64,
    rows: u64,
    cols: u64,
    from: u64,
    take: u64,
    transposed: bool,
}

/// The source of a GGUF `blk.{i}.ffn_{gate,up,down}_exps.weight` (dims `[in, out, experts]`) where
/// the per-expert matrices (`stem` = `….mlp.experts.gate_proj`) are absent and the fused ones
/// are present; `None` otherwise (the caller looks for the per-expert ones).
pub(super) fn source(gguf: &str, stem: &str, dims: &[u64], st: &HashMap<String, StTensor>) -> Option<Source> {
    let experts = stem.rsplit_once('.')?.0;
    // `blk.{i}.ffn_gate_exps.weight`: which of the three.
    let kind = gguf.split('.').find(|part| part.ends_with("_exps"))?;
    let (gate_up, down) = (format!("{experts}.gate_up_proj"), format!("{experts}.down_proj"));
    let (n, cols_in, rows_out) = (dims[2], dims[0], dims[1]);
    // Hidden size and expert width, whichever tensor this is.
    let (hidden, width) = if kind == "ffn_down_exps" { (rows_out, cols_in) } else { (cols_in, rows_out) };
    let shape = |name: &str| st.get(name).map(|t| t.shape.clone());
    let (gu, dn) = (shape(&gate_up)?, shape(&down)?);
    let saved = gu == [n, 2 * width, hidden] && dn == [n, hidden, width];
    let published = gu == [n, hidden, 2 * width] && dn == [n, width, hidden];
    // Neither: the saved layout is asked for, so the shape check names what was found.
    let transposed = published && !saved;
    let (name, cut) = match (kind, transposed) {
        ("ffn_down_exps", false) => {
            (down, Cut { count: n, rows: hidden, cols: width, from: 0, take: hidden, transposed })
        }
        ("ffn_down_exps", true) => {
            (down, Cut { count: n, rows: width, cols: hidden, from: 0, take: hidden, transposed })
        }
        (half, false) => {
            let from = if half == "ffn_up_exps" { width } else { 0 };
            (gate_up, Cut { count: n, rows: 2 * width, cols: hidden, from, take: width, transposed })
        }
        (half, true) => {
            let from = if half == "ffn_up_exps" { width } else { 0 };
            (gate_up, Cut { count: n, rows: hidden, cols: 2 * width, from, take: width, transposed })
        }
    };
    Some(Source {
        names: vec![name],
        shape: vec![cut.count, cut.rows, cut.cols],
        transform: Transform::Experts(cut),
        f32: false,
    })
}

/// The GGUF tensor's bytes cut out of the fused tensor's `data` (elements of any one size).
pub(super) fn cut(data: &[u8], c: Cut) -> Vec<u8> {
    let elems = (c.count * c.rows * c.cols) as usize;
    let size = data.len().checked_div(elems).unwrap_or(0);
    let (rows, cols, from, take) = (c.rows as usize, c.cols as usize, c.from as usize, c.take as usize);
    if size == 0 || from + take > if c.transposed { cols } else { rows } {
        // Nothing to cut (the shapes were checked against config.json before).
        return vec![];
    }
    let mut out = Vec::with_capacity(c.count as usize * take * if c.transposed { rows } else { cols } * size);
    for matrix in data.chunks_exact(rows * cols * size).take(c.count as usize) {
        if c.transposed {
            for col in from..from + take {
                for row in 0..rows {
                    let at = (row * cols + col) * size;
                    out.extend_from_slice(&matrix[at..at + size]);
                }
            }
        } else {
            out.extend_from_slice(&matrix[from * cols * size..(from + take) * cols * size]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_cut_and_published_matrices_transposed() {
        // One expert, 2 rows × 4 columns of one-byte elements.
        let data = [1, 2, 3, 4, 5, 6, 7, 8];
        let rows = Cut { count: 1, rows: 2, cols: 4, from: 1, take: 1, transposed: false };
        assert_eq!(cut(&data, rows), vec![5, 6, 7, 8]);
        let cols = Cut { count: 1, rows: 2, cols: 4, from: 2, take: 2, transposed: true };
        assert_eq!(cut(&data, cols), vec![3, 7, 4, 8]);
        // Two experts: each cut alone.
        let two = [1, 2, 3, 4, 5, 6, 7, 8];
        let c = Cut { count: 2, rows: 2, cols: 2, from: 0, take: 2, transposed: true };
        assert_eq!(cut(&two, c), vec![1, 3, 2, 4, 5, 7, 6, 8]);
        // Nothing, or a cut beyond the matrix: nothing, not a panic.
        assert!(cut(&[], c).is_empty());
        assert!(cut(&data, Cut { from: 3, ..rows }).is_empty());
    }
}
