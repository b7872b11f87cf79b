//! Readings on a grid (a temperature to 0.1°, an encoder's counts): the grid's least change is
//! no news, whatever its step against the noise; a change of several steps is.

use super::*;
use crate::rng::Rng;

/// A level that drifts slowly and swings a little, read with noise `sigma` on a grid of step
/// `grid`, for `readings` readings; with `jump`, `(reading, size)`: the size added to the first
/// dimension at that reading and the two after. Returns the readings that were news.
fn on_a_grid(seed: u64, grid: f64, sigma: f64, readings: u64, jump: Option<(u64, f64)>) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let offset = [21.0 + rng.next_f64(), -3.0 + rng.next_f64()];
    let read = |rng: &mut Rng, i: u64| -> Vec<f64> {
        (0..2)
            .map(|d| {
                let lift = match jump {
                    Some((at, size)) if d == 0 && (at..at + 3).contains(&i) => size,
                    _ => 0.0,
                };
                let x = offset[d] + 0.0005 * i as f64 + 0.05 * (i as f64 / 90.0).sin() + sigma * rng.normal();
                ((x + lift) / grid).round() * grid
            })
            .collect()
    };
    let mut l = Levels::new(&read(&mut rng, 0));
    (1..readings).filter(|&i| super::tests::news(&l.observe(&read(&mut rng, i)))).collect()
}

#[test]
fn the_least_change_of_a_grid_is_no_news_whatever_its_step_against_the_noise() {
    for (grid, sigma) in [(0.1, 0.2), (0.1, 0.05), (0.1, 0.0125), (0.1, 0.003), (0.1, 0.0)] {
        let news: usize = (0..5).map(|seed| on_a_grid(seed, grid, sigma, 2000, None).len()).sum();
        // Noise alone is news about once in a thousand readings (10,000 here), on or off a grid.
        assert!(news <= 20, "a grid of {grid} over noise {sigma}: {news} news in 10,000 readings");
    }
}

#[test]
fn a_change_of_several_steps_of_a_grid_is_news() {
    for (grid, sigma) in [(0.1, 0.05f64), (0.1, 0.0125), (0.1, 0.0)] {
        for seed in 0..5 {
            // Six of the least noise a grid shows (half its step), or of its noise.
            let size = 6.5 * sigma.max(grid / 2.0);
            let news = on_a_grid(seed, grid, sigma, 400, Some((300, size)));
            assert!(
                news.contains(&300),
                "a grid of {grid} over noise {sigma}, seed {seed}: news at {news:?}"
            );
        }
    }
}

#[test]
fn a_level_that_climbs_by_large_steps_shows_a_jump_in_its_noise() {
    // An odometer: 5 units a reading, noise 0.05; its steps are no grid.
    let mut rng = Rng::new(4);
    let mut l = Levels::new(&[0.0]);
    for i in 1..300 {
        let d = l.observe(&[5.0 * i as f64 + 0.05 * rng.normal()]);
        assert!(!super::tests::news(&d) || i < WARMUP, "reading {i}: {d:?}");
    }
    let d = l.observe(&[5.0 * 300.0 + 0.5]);
    assert!(super::tests::news(&d), "a 10σ jump: {d:?}");
}
