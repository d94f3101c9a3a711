//! `--plot report.svg`: each tracing round's overhead against its
//! neighbouring `off` rounds over the run, per target (rows) and for p50 and
//! p99 (columns); per mode, a band for the interval of the median and a line
//! at the median. Points beyond the axis are drawn on its edge.

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

use super::model::{Mode, Round, Target};
use super::stats;
use super::summary::ModeSummary;

const PANEL: (u32, u32) = (640, 360);
const FONT: f64 = 15.0;

/// The colour of a tracing mode.
fn colour(mode: Mode) -> RGBColor {
    match mode {
        Mode::Ringside => RGBColor(78, 121, 167),
        Mode::Otel => RGBColor(242, 142, 43),
        Mode::Off => RGBColor(120, 120, 120),
    }
}

/// Draws the rounds' overheads with the summaries' intervals to `path`.
pub fn draw(path: &Path, rounds: &[Round], results: &[ModeSummary]) -> anyhow::Result<()> {
    let mut targets: Vec<Target> = Vec::new();
    for r in rounds {
        if !targets.contains(&r.target) {
            targets.push(r.target);
        }
    }
    let size = (PANEL.0 * 2, PANEL.1 * targets.len().max(1) as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let panels = root.split_evenly((targets.len().max(1), 2));
        for (i, panel) in panels.iter().enumerate() {
            let Some(&target) = targets.get(i / 2) else {
                continue;
            };
            let p99 = i % 2 == 1;
            panel_of(panel, target, p99, rounds, results)?;
        }
        root.present().map_err(chart_error)?;
    }
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

/// One panel: `target`'s tracing rounds, p50 or p99.
fn panel_of(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    target: Target,
    p99: bool,
    rounds: &[Round],
    results: &[ModeSummary],
) -> anyhow::Result<()> {
    let value = |r: &Round| {
        if p99 {
            r.p99_overhead_pct
        } else {
            r.p50_overhead_pct
        }
    };
    let points: Vec<(Mode, f64, f64)> = rounds
        .iter()
        .filter(|r| r.target == target)
        .filter_map(|r| Some((r.mode, r.start_s, value(r)?)))
        .collect();
    let estimates: Vec<(Mode, stats::Estimate)> = results
        .iter()
        .filter(|s| s.target == target)
        .filter_map(|s| Some((s.mode, if p99 { s.p99_overhead } else { s.p50_overhead }?)))
        .collect();
    let x_max = rounds
        .iter()
        .filter(|r| r.target == target)
        .map(|r| r.start_s)
        .fold(1.0, f64::max)
        * 1.02;
    // The axis holds the intervals, zero and the middle 90 % of the points;
    // one wild round must not flatten the rest.
    let ys: Vec<f64> = points.iter().map(|p| p.2).collect();
    let mut lo = stats::quantile(&ys, 0.05).unwrap_or(-10.0).min(0.0);
    let mut hi = stats::quantile(&ys, 0.95).unwrap_or(10.0).max(0.0);
    for (_, e) in &estimates {
        lo = lo.min(e.low.unwrap_or(e.median));
        hi = hi.max(e.high.unwrap_or(e.median));
    }
    let pad = ((hi - lo) * 0.1).max(1.0);
    let (lo, hi) = (lo - pad, hi + pad);
    let caption = format!(
        "{}: {} overhead per round, % (vs neighbouring off rounds)",
        target.name(),
        if p99 { "p99" } else { "p50" }
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", FONT))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, lo..hi)
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the run")
        .label_style(("sans-serif", FONT * 0.8))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (x_max, 0.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(chart_error)?;
    for (mode, e) in &estimates {
        let c = colour(*mode);
        if let (Some(l), Some(h)) = (e.low, e.high) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, l.clamp(lo, hi)), (x_max, h.clamp(lo, hi))],
                    c.mix(0.18).filled(),
                )))
                .map_err(chart_error)?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, e.median), (x_max, e.median)],
                c.stroke_width(2),
            )))
            .map_err(chart_error)?
            .label(format!(
                "{}: median {:+.1} %, band: {:.0} % interval",
                mode.name(),
                e.median,
                stats::CONFIDENCE * 100.0
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.0 == *mode)
                    .map(|p| Circle::new((p.1, p.2.clamp(lo, hi)), 3, c.filled())),
            )
            .map_err(chart_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", FONT * 0.8))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(chart_error)?;
    Ok(())
}

/// plotters' errors borrow the backend's; keep their text.
fn chart_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot failed: {e}")
}
