//! Mutations of a seed input: the byte-level ones of AFL (bit flips, interesting values, inserted,
//! deleted and duplicated ranges, truncation, splicing with another seed) and text-level ones that
//! reach past a parser's first check (numbers replaced by extremes, JSON and template tokens).

/// SplitMix64: the campaign's random stream (a seed gives the same inputs).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0xF022_5EED_0000_0001)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'}', b'[', b']', b'\\', b'\n', b'%', b'-'];

const TOKENS: &[&str] = &[
    "0",
    "-1",
    "4294967296",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "NaN",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\\u0000",
    "\\ud800",
    "{% for x in range(99999) %}",
    "{{ messages }}",
    "{% endfor %}",
    "\u{1F600}",
];

/// `seed` mutated 1 to 4 times; `other` is another seed to splice from.
pub fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        step(rng, &mut b, other);
    }
    b
}

fn step(rng: &mut Rng, b: &mut Vec<u8>, other: &[u8]) {
    let n = b.len();
    match rng.below(10) {
        0 if n > 0 => {
            let i = rng.below(n);
            b[i] ^= 1 << rng.below(8);
        }
        1 if n > 0 => {
            let i = rng.below(n);
            b[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let at = rng.below(n + 1);
            let len = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            b.splice(at..at, bytes);
        }
        3 if n > 0 => {
            let at = rng.below(n);
            let len = 1 + rng.below((n - at).min(64));
            b.drain(at..at + len);
        }
        4 if n > 0 => {
            let at = rng.below(n);
            let len = 1 + rng.below((n - at).min(64));
            let copy = b[at..at + len].to_vec();
            let to = rng.below(n + 1);
            b.splice(to..to, copy);
        }
        5 if n > 0 => b.truncate(rng.below(n)),
        6 if !other.is_empty() => {
            let at = rng.below(n + 1);
            let from = rng.below(other.len());
            let len = 1 + rng.below((other.len() - from).min(256));
            b.splice(at..at, other[from..from + len].iter().copied());
        }
        7 => {
            // A run of digits becomes an extreme number (or a token).
            let starts: Vec<usize> =
                (0..n).filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit())).collect();
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes().to_vec();
            if starts.is_empty() {
                let at = rng.below(n + 1);
                b.splice(at..at, token);
            } else {
                let s = starts[rng.below(starts.len())];
                let e = (s..n).find(|&i| !b[i].is_ascii_digit()).unwrap_or(n);
                b.splice(s..e, token);
            }
        }
        8 => {
            let at = rng.below(n + 1);
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes().to_vec();
            b.splice(at..at, token);
        }
        _ if n >= 4 => {
            // A little-endian u32 or u64 field set to an extreme (binary formats' counts).
            let at = rng.below(n - 3);
            let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 100_000][rng.below(6)];
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        _ => b.push(rng.next_u64() as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_seeded_and_change_the_input() {
        let seed = b"{\"t\": 12, \"text\": \"hello\"}".to_vec();
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        let xs: Vec<Vec<u8>> = (0..100).map(|_| mutate(&mut a, &seed, b"[1,2]")).collect();
        let ys: Vec<Vec<u8>> = (0..100).map(|_| mutate(&mut b, &seed, b"[1,2]")).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().filter(|x| **x != seed).count() > 90);
    }
}
