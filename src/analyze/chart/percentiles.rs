//! Latency percentiles per operation on one log-scale axis: a bar from p50
//! to p99 and ticks at p90, p99.9 and max, one fixed-height row per
//! operation, so operations whose tails differ by orders of magnitude can be
//! compared at a glance.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ChartError;
use crate::analyze::stats::OpStats;
use crate::analyze::time::fmt_ns;

/// Picture width, px.
pub const WIDTH: u32 = 1200;
/// Height of one operation's row, px.
pub const ROW_HEIGHT: u32 = 22;
const LABEL_WIDTH: u32 = 320;
const TOP: u32 = 36;
const BOTTOM: u32 = 12;
const FONT: f64 = 15.0;
const BAR: RGBColor = RGBColor(78, 121, 167);
const TICK: RGBColor = RGBColor(25, 25, 25);
const MAX: RGBColor = RGBColor(200, 0, 0);

/// Draws `stats` as SVG text; `None` when there are none.
pub fn svg(stats: &[OpStats]) -> Result<Option<String>, ChartError> {
    if stats.is_empty() {
        return Ok(None);
    }
    let rows = stats.len();
    let lo = stats.iter().map(|s| s.min_ns.max(1)).min().unwrap_or(1) as f64;
    let hi = stats.iter().map(|s| s.max_ns.max(1)).max().unwrap_or(1) as f64;
    let (lo, hi) = (lo / 1.5, (hi * 1.5).max(lo * 2.0));
    let height = TOP + rows as u32 * ROW_HEIGHT + BOTTOM;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (_, plot) = root.split_horizontally(LABEL_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin_right(16)
            .margin_bottom(BOTTOM)
            .set_label_area_size(LabelAreaPosition::Top, TOP)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(10)
            .x_label_formatter(&|ns| fmt_ns(*ns as u64))
            .x_label_style(("sans-serif", FONT))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let x = |ns: u64| (ns.max(1) as f64).clamp(lo, hi);
        for (row, s) in stats.iter().enumerate() {
            let y = (rows - row) as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (x(s.p50_ns), y - 0.3),
                    (x(s.p99_ns).max(x(s.p50_ns) * 1.01), y - 0.7),
                ],
                BAR.filled(),
            )))?;
            for (v, color) in [(s.p90_ns, TICK), (s.p999_ns, TICK), (s.max_ns, MAX)] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x(v), y - 0.2), (x(v), y - 0.8)],
                    color.stroke_width(2),
                )))?;
            }
            let (_, py) = chart.backend_coord(&(lo, y - 0.5));
            let label = format!("{} {}", s.key.service, s.key.operation);
            let label: String = if label.chars().count() > 40 {
                label.chars().take(39).chain(std::iter::once('…')).collect()
            } else {
                label
            };
            let style = TextStyle::from(("sans-serif", FONT).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(label, (8, py), style))?;
        }
        root.present()?;
    }
    Ok(Some(out))
}
