//! Pictures drawn with plotters' SVG backend: a trace waterfall
//! ([`waterfall`]), a latency heatmap over time ([`heatmap`]) and latency
//! percentiles per operation ([`percentiles`]).
//!
//! Text stays readable at any span count because the pictures grow with the
//! data (one fixed-height row per span) instead of shrinking the labels.

use std::sync::Arc;

use plotters::style::RGBColor;

pub mod heatmap;
pub mod percentiles;
pub mod waterfall;

/// Why a chart could not be drawn (plotters reports drawing errors as text).
#[derive(Debug)]
pub struct ChartError(pub String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "drawing a chart failed: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for ChartError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        ChartError(e.to_string())
    }
}

/// Categorical colours (Tableau 10), distinguishable and print-safe.
const COLORS: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(156, 117, 95),
    RGBColor(255, 157, 167),
    RGBColor(186, 176, 172),
    RGBColor(225, 87, 89),
];

/// One colour per service, the same in every chart of a report.
#[derive(Clone, Debug, Default)]
pub struct Palette {
    services: Vec<Arc<str>>,
}

impl Palette {
    /// A palette for `services` (sorted and deduplicated here).
    pub fn new(mut services: Vec<Arc<str>>) -> Palette {
        services.sort();
        services.dedup();
        Palette { services }
    }

    /// The colour of `service` (services not given to [`Palette::new`] share
    /// the last colour).
    pub fn color(&self, service: &str) -> RGBColor {
        let i = self
            .services
            .iter()
            .position(|s| **s == *service)
            .unwrap_or(COLORS.len() - 1);
        COLORS[i % COLORS.len()]
    }

    /// The services and their colours as CSS `rgb()` text, for legends.
    pub fn legend(&self) -> Vec<(Arc<str>, String)> {
        self.services
            .iter()
            .map(|s| {
                let c = self.color(s);
                (s.clone(), format!("rgb({},{},{})", c.0, c.1, c.2))
            })
            .collect()
    }
}
