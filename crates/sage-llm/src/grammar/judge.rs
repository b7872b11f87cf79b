//! Judging the whole vocabulary in one walk: the tokens sorted by their text, so that tokens
//! sharing a beginning share its work, and a beginning the grammar refuses skips every token
//! that starts with it (a binary search past them). Where only a few characters may come next
//! (between a JSON object's fields, after a key), almost the whole vocabulary is skipped.

use super::stacks::{Engine, Partial, Set, DEAD, EXTRA};
use super::{parse::Rules, GrammarError, Vocab};

/// The vocabulary's tokens that have text and do not end a generation, sorted by their text,
/// each with how many bytes it shares with the one before.
pub(crate) struct Sorted {
    order: Vec<u32>,
    shared: Vec<u32>,
}

impl Sorted {
    pub fn of(vocab: &Vocab) -> Sorted {
        let mut order: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&t| {
                !vocab.end_of_generation[t as usize] && vocab.piece(t).is_some_and(|p| !p.is_empty())
            })
            .collect();
        order.sort_by(|&a, &b| vocab.piece(a).cmp(&vocab.piece(b)));
        let shared = (0..order.len())
            .map(|i| match i {
                0 => 0,
                _ => {
                    let (a, b) = (vocab.piece(order[i - 1]), vocab.piece(order[i]));
                    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
                    a.iter().zip(b).take_while(|(x, y)| x == y).count() as u32
                }
            })
            .collect();
        Sorted { order, shared }
    }
}

/// Where a token's text has brought the matcher: the set, and a character begun and not
/// finished (`continuing`: one the previous token began, whose bytes must be continuation
/// bytes, as llama.cpp checks them).
#[derive(Clone, Copy)]
struct At {
    set: Set,
    value: u32,
    remain: i8,
    continuing: bool,
}

/// `at` with one more byte; None where no text beginning so can follow (the grammar refuses
/// it, or it is not UTF-8).
fn feed(engine: &mut Engine, rules: &Rules, mut at: At, b: u8) -> Option<At> {
    if at.remain > 0 {
        if at.continuing && b >> 6 != 2 {
            return None;
        }
        at.value = (at.value << 6) + (b & 0x3f) as u32;
        at.remain -= 1;
    } else {
        let extra = EXTRA[(b >> 4) as usize];
        if extra < 0 {
            return None;
        }
        at.value = (b & ((1u8 << (7 - extra)) - 1)) as u32;
        at.remain = extra as i8;
    }
    if at.remain == 0 {
        at.continuing = false;
        at.set = engine.step(rules, at.set, at.value);
        if at.set == DEAD {
            return None;
        }
    } else if !engine.could_continue(rules, at.set, Partial { value: at.value, remain: at.remain }) {
        // No character this sequence can complete to could come: every token going on
        // with it is refused, and one that ends here too (llama.cpp's test for that is
        // stricter still).
        return None;
    }
    Some(at)
}

/// Which tokens of `vocab` may come next from `set` (with `partial` left open by the last
/// token), by token id; tokens that end a generation are left to the caller. Checks `deadline`
/// (and the matcher's bounds) every 1,024 tokens.
pub(crate) fn allowed(
    engine: &mut Engine,
    rules: &Rules,
    (set, partial): (Set, Partial),
    vocab: &Vocab,
    sorted: &Sorted,
    deadline: Option<(std::time::Instant, u128)>,
) -> Result<Vec<bool>, GrammarError> {
    let mut out = vec![false; vocab.len()];
    let start = At { set, value: partial.value, remain: partial.remain, continuing: partial.remain > 0 };
    // `path[d]`: where the first `d` bytes of the current token lead.
    let mut path = vec![start];
    let mut i = 0;
    let mut checked = 0usize;
    while i < sorted.order.len() {
        if checked.is_multiple_of(1024) {
            if let Some((_, limit_ms)) = deadline.filter(|(at, _)| std::time::Instant::now() > *at) {
                return Err(GrammarError::TooSlow(limit_ms));
            }
            if engine.overflow {
                return Err(GrammarError::TooLarge(super::stacks::MAX_SET));
            }
        }
        checked += 1;
        let t = sorted.order[i];
        let piece = vocab.piece(t).unwrap_or_default();
        path.truncate((sorted.shared[i] as usize).min(path.len() - 1) + 1);
        let mut dead_at = None;
        for d in path.len() - 1..piece.len() {
            match feed(engine, rules, path[d], piece[d]) {
                Some(next) => path.push(next),
                None => {
                    dead_at = Some(d + 1);
                    break;
                }
            }
        }
        match dead_at {
            // No token beginning with these bytes can come: past them all.
            Some(k) => {
                let prefix = &piece[..k];
                let rest = &sorted.order[i..];
                i += rest.partition_point(|&u| vocab.piece(u).is_some_and(|p| p.starts_with(prefix)));
            }
            None => {
                let at = path[piece.len()];
                out[t as usize] = match at.remain {
                    0 => true,
                    _ => engine.partial_fits(rules, at.set, Partial { value: at.value, remain: at.remain }),
                };
                i += 1;
            }
        }
    }
    Ok(out)
}
