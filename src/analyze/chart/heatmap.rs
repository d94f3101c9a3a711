//! Latency over time as a heatmap: time on x in equal columns, duration on y
//! in powers-of-two rows (log scale), each cell shaded by how many spans fall
//! in it. Tails and their moments show up as dark cells high on the chart.

use plotters::prelude::*;

use super::ChartError;
use crate::analyze::time::{fmt_ns, fmt_time};

/// Picture size, px.
pub const SIZE: (u32, u32) = (1200, 360);
/// Time columns.
pub const COLUMNS: usize = 60;
const FONT: f64 = 15.0;

/// Cell counts: `counts[column][row]`, row `r` holding durations in
/// `[2^(min_exp + r), 2^(min_exp + r + 1))` ns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Start of the first column, Unix ns.
    pub start_ns: u64,
    /// Width of one column, ns.
    pub column_ns: u64,
    /// Exponent of the lowest row.
    pub min_exp: u32,
    /// Counts by column then row.
    pub counts: Vec<Vec<u64>>,
}

fn exp(d: u64) -> u32 {
    63 - d.max(1).leading_zeros()
}

impl Grid {
    /// Bins `(start_ns, duration_ns)` points; `None` when there are none.
    pub fn of(points: &[(u64, u64)]) -> Option<Grid> {
        let start_ns = points.iter().map(|p| p.0).min()?;
        let end = points.iter().map(|p| p.0).max()?;
        let column_ns = ((end - start_ns) / COLUMNS as u64 + 1).max(1);
        let min_exp = points.iter().map(|p| exp(p.1)).min()?;
        let max_exp = points.iter().map(|p| exp(p.1)).max()?;
        let rows = (max_exp - min_exp + 1) as usize;
        let mut counts = vec![vec![0u64; rows]; COLUMNS];
        for &(t, d) in points {
            let c = (((t - start_ns) / column_ns) as usize).min(COLUMNS - 1);
            counts[c][(exp(d) - min_exp) as usize] += 1;
        }
        Some(Grid {
            start_ns,
            column_ns,
            min_exp,
            counts,
        })
    }

    /// Number of duration rows.
    pub fn rows(&self) -> usize {
        self.counts.first().map_or(0, Vec::len)
    }
}

/// Draws the heatmap of `points` (`(start_ns, duration_ns)`) as SVG text;
/// `None` when there are no points.
pub fn svg(points: &[(u64, u64)]) -> Result<Option<String>, ChartError> {
    let Some(grid) = Grid::of(points) else {
        return Ok(None);
    };
    let rows = grid.rows();
    let max = grid
        .counts
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..COLUMNS as f64, 0f64..rows as f64)?;
        let (start, column, min_exp) = (grid.start_ns, grid.column_ns, grid.min_exp);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(rows.min(12) + 1)
            .x_label_formatter(&|c| format!("+{}", fmt_ns((*c * column as f64) as u64)))
            .y_label_formatter(&|r| fmt_ns(1u64 << (min_exp + *r as u32).min(63)))
            .x_desc(format!("start time, after {} UTC", fmt_time(start)))
            .y_desc("duration")
            .label_style(("sans-serif", FONT))
            .axis_desc_style(("sans-serif", FONT))
            .draw()?;
        chart.draw_series(grid.counts.iter().enumerate().flat_map(|(c, col)| {
            col.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(r, &n)| {
                    // Log shading: one span is visible, the busiest cell is dark.
                    let level = ((n as f64).ln_1p() / (max as f64).ln_1p()).clamp(0.0, 1.0);
                    let shade = |lo: f64, hi: f64| (lo + (hi - lo) * level) as u8;
                    let color =
                        RGBColor(shade(222.0, 8.0), shade(235.0, 48.0), shade(247.0, 107.0));
                    Rectangle::new(
                        [(c as f64, r as f64), (c as f64 + 1.0, r as f64 + 1.0)],
                        color.filled(),
                    )
                })
        }))?;
        root.present()?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_in_their_time_column_and_power_of_two_row() {
        let points = [(0, 1000), (0, 1023), (59_000, 1024), (30_000, 5000)];
        let g = Grid::of(&points).unwrap();
        assert_eq!(g.min_exp, 9); // 1000 ns is in [512, 1024)
        assert_eq!(g.rows(), 4); // 2^9 .. 2^12 (5000 ns)
        assert_eq!(g.counts[0][0], 2);
        assert_eq!(g.counts[59][1], 1);
        assert_eq!(g.counts.iter().flatten().sum::<u64>(), 4);
        assert!(Grid::of(&[]).is_none());
        let svg = svg(&points).unwrap().unwrap();
        // Three non-empty cells, each one rectangle, plus the background.
        assert!(svg.matches("<rect").count() >= 3, "{svg}");
    }
}
