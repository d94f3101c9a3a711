//! A trace as a waterfall (Gantt): one row per span in tree order, bars
//! coloured by service, the critical path drawn as a dark strip under the
//! bars it runs through, errors marked in red.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ChartError, Palette};
use crate::analyze::critical_path::CriticalPath;
use crate::analyze::time::fmt_ns;
use crate::analyze::tree::Trace;

/// Picture width, px.
pub const WIDTH: u32 = 1200;
/// Height of one span's row, px: constant, so labels never shrink.
pub const ROW_HEIGHT: u32 = 20;
/// Width of the label column, px.
const LABEL_WIDTH: u32 = 420;
/// Space above the rows (time axis), px.
const TOP: u32 = 36;
/// Space below the rows, px.
const BOTTOM: u32 = 12;
/// Label font size (plotters divides by 1.24: about 12 px).
const FONT: f64 = 15.0;
const CRITICAL: RGBColor = RGBColor(25, 25, 25);
const ERROR: RGBColor = RGBColor(200, 0, 0);

/// Draws `trace` as SVG text. `path` (if given) is highlighted.
pub fn svg(
    trace: &Trace,
    path: Option<&CriticalPath>,
    palette: &Palette,
) -> Result<String, ChartError> {
    let order = trace.depth_first();
    let rows = order.len().max(1);
    let height = TOP + rows as u32 * ROW_HEIGHT + BOTTOM;
    let (lo, hi) = extent(trace);
    let span_ms = ((hi - lo) as f64 / 1e6).max(1e-6);
    let mut row_of = vec![0usize; trace.spans.len()];
    for (row, &(i, _)) in order.iter().enumerate() {
        row_of[i] = row;
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (_, bars) = root.split_horizontally(LABEL_WIDTH);
        let mut chart = ChartBuilder::on(&bars)
            .margin_right(16)
            .margin_bottom(BOTTOM)
            .set_label_area_size(LabelAreaPosition::Top, TOP)
            .build_cartesian_2d(0f64..span_ms, 0f64..rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(8)
            .x_label_formatter(&|ms| fmt_ns((ms * 1e6) as u64))
            .x_label_style(("sans-serif", FONT))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let x = |ns: u64| (ns.saturating_sub(lo)) as f64 / 1e6;
        // Row 0 at the top: y grows upwards in the chart.
        let y = |row: usize| (rows - row) as f64;
        for &(i, depth) in &order {
            let s = &trace.spans[i];
            let row = row_of[i];
            let color = palette.color(&s.service);
            let (x0, x1) = (
                x(s.start_ns),
                x(s.end_ns.max(s.start_ns)).max(x(s.start_ns) + span_ms / 2000.0),
            );
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, y(row) - 0.15), (x1, y(row) - 0.85)],
                color.filled(),
            )))?;
            if s.is_error() {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, y(row) - 0.15), (x1, y(row) - 0.85)],
                    ERROR.stroke_width(2),
                )))?;
            }
            let (_, py) = chart.backend_coord(&(0.0, y(row) - 0.5));
            let indent = (depth as i32 * 12).min(160);
            let max_chars = ((LABEL_WIDTH as i32 - 8 - indent) / 7).max(8) as usize;
            let mut label = format!("{} {}", s.service, s.name);
            if s.is_error() {
                label.insert_str(0, "! ");
            }
            if trace.is_orphan(i) {
                label.push_str(" (orphan)");
            }
            let label = clip_label(&label, max_chars);
            let style = TextStyle::from(("sans-serif", FONT).into_font())
                .color(if s.is_error() { &ERROR } else { &BLACK })
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(label, (8 + indent, py), style))?;
            let dur = TextStyle::from(("sans-serif", FONT * 0.85).into_font())
                .color(&RGBColor(90, 90, 90))
                .pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(
                fmt_ns(s.duration_ns()),
                (LABEL_WIDTH as i32 - 6, py),
                dur,
            ))?;
        }
        if let Some(p) = path {
            chart.draw_series(p.segments.iter().map(|seg| {
                let row = row_of[seg.span];
                Rectangle::new(
                    [
                        (x(seg.start_ns), y(row) - 0.62),
                        (x(seg.end_ns), y(row) - 0.85),
                    ],
                    CRITICAL.filled(),
                )
            }))?;
        }
        root.present()?;
    }
    Ok(out)
}

/// Earliest start and latest end of any span (so orphans and children that
/// outlive the root stay in the picture).
fn extent(trace: &Trace) -> (u64, u64) {
    let lo = trace.spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let hi = trace
        .spans
        .iter()
        .map(|s| s.end_ns.max(s.start_ns))
        .max()
        .unwrap_or(0);
    (lo, hi.max(lo + 1))
}

fn clip_label(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    t.push('…');
    t
}
