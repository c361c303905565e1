//! [`XyPlot`]: the experiments' figures: one or more named series of (x, y) points drawn as
//! lines with markers (plotters), written as PNG and SVG, optionally with a logarithmic x axis
//! (client counts from 1 to 10,000).
//!
//! Text uses the font [`crate::plot`] registers; without one, the figure has no text and
//! [`PlotFiles::has_text`] says so.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{LabError, Result};
use crate::plot::{font_registered, PlotFiles};

/// One named line.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text, e.g. "Trickles".
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A figure.
#[derive(Clone, Debug)]
pub struct XyPlot {
    /// The caption.
    pub title: String,
    /// The x axis' label.
    pub x_label: String,
    /// The y axis' label.
    pub y_label: String,
    /// Logarithmic x axis (all x must be > 0).
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

impl Series {
    /// One series per protocol (Trickles, then TCP) from `points`, each point placed by `xy`.
    pub fn per_protocol<T>(
        points: &[T],
        protocol_of: impl Fn(&T) -> super::context::Protocol,
        xy: impl Fn(&T) -> (f64, f64),
    ) -> Vec<Series> {
        super::context::Protocol::BOTH
            .iter()
            .map(|&protocol| Series {
                name: protocol.label().to_owned(),
                points: points
                    .iter()
                    .filter(|p| protocol_of(p) == protocol)
                    .map(&xy)
                    .collect(),
            })
            .collect()
    }
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

impl XyPlot {
    /// Writes `STEM.png` and `STEM.svg`.
    pub fn write(&self, stem: &Path) -> Result<PlotFiles> {
        let has_text = font_registered();
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        let size = (900, 540);
        self.draw(BitMapBackend::new(&png, size).into_drawing_area(), has_text)
            .map_err(|reason| LabError::Plot {
                path: png.clone(),
                reason,
            })?;
        self.draw(SVGBackend::new(&svg, size).into_drawing_area(), has_text)
            .map_err(|reason| LabError::Plot {
                path: svg.clone(),
                reason,
            })?;
        Ok(PlotFiles { png, svg, has_text })
    }

    fn bounds(&self) -> (f64, f64, f64) {
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(x, y) in points {
            x_min = x_min.min(x);
            x_max = x_max.max(x);
            y_max = y_max.max(y);
        }
        if !x_min.is_finite() {
            (x_min, x_max) = (1.0, 2.0);
        }
        if x_max <= x_min {
            x_max = x_min + 1.0;
        }
        (x_min, x_max, y_max * 1.25 + 1e-9)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
        has_text: bool,
    ) -> std::result::Result<(), String> {
        let text_error = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(text_error)?;
        let (x_min, x_max, y_max) = self.bounds();
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if has_text {
            builder
                .caption(&self.title, ("sans-serif", 22))
                .x_label_area_size(45)
                .y_label_area_size(70);
        }
        if self.log_x {
            let range = (x_min.max(1e-9) / 1.3..x_max * 1.3).log_scale();
            let chart = builder
                .build_cartesian_2d(range, 0.0..y_max)
                .map_err(text_error)?;
            self.draw_lines(chart, has_text).map_err(text_error)
        } else {
            let pad = (x_max - x_min) * 0.03;
            let chart = builder
                .build_cartesian_2d(x_min - pad..x_max + pad, 0.0..y_max)
                .map_err(text_error)?;
            self.draw_lines(chart, has_text).map_err(text_error)
        }
    }

    fn draw_lines<'a, DB, X>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
        has_text: bool,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        let mut mesh = chart.configure_mesh();
        if has_text {
            mesh.x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(("sans-serif", 15));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let line = chart.draw_series(LineSeries::new(
                series.points.iter().copied(),
                colour.stroke_width(2),
            ))?;
            if has_text {
                line.label(&series.name).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
            chart.draw_series(
                series
                    .points
                    .iter()
                    .map(|&point| Circle::new(point, 3, colour.filled())),
            )?;
        }
        if has_text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        Ok(())
    }
}
