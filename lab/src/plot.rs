//! Throughput-over-time plots (plotters), as PNG and SVG: the delivered megabytes per second
//! in each time bin, one line per transfer ([`write_throughput_series_plot`] compares several,
//! e.g. Trickles and TCP), with the scenario's events (replica killed, balancer table changes,
//! restart, ...) as vertical lines, lines and events listed in a legend below the chart.
//!
//! Text needs a TrueType font: the first of [`FONT_CANDIDATES`] that exists is registered
//! (DejaVu Sans ships with Debian). Without one the plots are drawn without text, and
//! [`PlotFiles::has_text`] says so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{LabError, Result};
use crate::measure::delivery::{ThroughputPoint, TraceEvent};

/// Size of the chart, pixels (the legend below adds [`LEGEND_LINE`] per entry).
const CHART_SIZE: (u32, u32) = (1000, 480);
/// Height of one legend line, pixels.
const LEGEND_LINE: u32 = 22;
/// Colours of the event markers, in order (distinct, so up to this many events are told apart).
const EVENT_COLOURS: [RGBColor; 8] = [
    RGBColor(230, 25, 25),
    RGBColor(0, 150, 60),
    RGBColor(200, 0, 200),
    RGBColor(0, 170, 200),
    RGBColor(255, 140, 0),
    RGBColor(0, 0, 0),
    RGBColor(120, 60, 180),
    RGBColor(140, 90, 40),
];

/// Fonts tried, in order, for the plots' text.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// What to draw.
#[derive(Clone, Debug)]
pub struct ThroughputPlot<'a> {
    /// The caption.
    pub title: &'a str,
    /// Throughput per bin.
    pub points: &'a [ThroughputPoint],
    /// Vertical markers.
    pub events: &'a [TraceEvent],
}

/// One named line of a throughput plot.
#[derive(Clone, Copy, Debug)]
pub struct ThroughputSeries<'a> {
    /// Legend text, e.g. "Trickles".
    pub name: &'a str,
    /// Throughput per bin.
    pub points: &'a [ThroughputPoint],
}

/// Colours of the lines, in order (the events use others).
const SERIES_COLOURS: [RGBColor; 3] = [BLUE, RGBColor(255, 127, 14), RGBColor(148, 103, 189)];

/// The files written.
#[derive(Clone, Debug)]
pub struct PlotFiles {
    /// The PNG image.
    pub png: PathBuf,
    /// The SVG image.
    pub svg: PathBuf,
    /// Whether a font was found (captions and axis labels are drawn only then).
    pub has_text: bool,
}

/// Writes `STEM.png` and `STEM.svg`.
pub fn write_throughput_plot(stem: &Path, plot: &ThroughputPlot<'_>) -> Result<PlotFiles> {
    let series = [ThroughputSeries {
        name: "delivered goodput",
        points: plot.points,
    }];
    write_throughput_series_plot(stem, plot.title, &series, plot.events)
}

/// Writes `STEM.png` and `STEM.svg` with one line per series, on one time axis.
pub fn write_throughput_series_plot(
    stem: &Path,
    title: &str,
    series: &[ThroughputSeries<'_>],
    events: &[TraceEvent],
) -> Result<PlotFiles> {
    let figure = Figure {
        title,
        series,
        events,
    };
    let has_text = font_registered();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let legend = if has_text {
        LEGEND_LINE * (events.len() + series.len()) as u32 + LEGEND_LINE / 2
    } else {
        0
    };
    let size = (CHART_SIZE.0, CHART_SIZE.1 + legend);
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        &figure,
        has_text,
    )
    .map_err(|reason| LabError::Plot {
        path: png.clone(),
        reason,
    })?;
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        &figure,
        has_text,
    )
    .map_err(|reason| LabError::Plot {
        path: svg.clone(),
        reason,
    })?;
    Ok(PlotFiles { png, svg, has_text })
}

/// What [`draw`] draws.
struct Figure<'a> {
    title: &'a str,
    series: &'a [ThroughputSeries<'a>],
    events: &'a [TraceEvent],
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    plot: &Figure<'_>,
    has_text: bool,
) -> std::result::Result<(), String> {
    let text_error = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(text_error)?;
    let (chart_area, legend_area) = root.split_vertically(CHART_SIZE.1);
    let all_points = || plot.series.iter().flat_map(|s| s.points.iter());
    let x_end = all_points()
        .map(|p| p.seconds)
        .fold(1.0, f64::max)
        .max(plot.events.iter().map(|e| e.seconds).fold(0.0, f64::max))
        * 1.02
        + 0.05;
    let y_end = all_points()
        .map(|p| p.megabytes_per_second)
        .fold(0.0, f64::max)
        * 1.1
        + 1e-3;

    let mut builder = ChartBuilder::on(&chart_area);
    builder.margin(20);
    if has_text {
        builder
            .caption(plot.title, ("sans-serif", 22))
            .x_label_area_size(45)
            .y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_end, 0.0..y_end)
        .map_err(text_error)?;
    let mut mesh = chart.configure_mesh();
    if has_text {
        mesh.x_desc("seconds since the client started")
            .y_desc("goodput (MB/s)")
            .label_style(("sans-serif", 15));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(text_error)?;

    for (i, series) in plot.series.iter().enumerate() {
        let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                series
                    .points
                    .iter()
                    .map(|p| (p.seconds, p.megabytes_per_second)),
                colour.stroke_width(2),
            ))
            .map_err(text_error)?;
    }
    for (i, event) in plot.events.iter().enumerate() {
        let colour = EVENT_COLOURS[i % EVENT_COLOURS.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(event.seconds, 0.0), (event.seconds, y_end)],
                colour.stroke_width(2),
            )))
            .map_err(text_error)?;
    }
    if has_text {
        let lines = plot.series.iter().enumerate().map(|(i, series)| {
            (
                SERIES_COLOURS[i % SERIES_COLOURS.len()],
                series.name.to_owned(),
            )
        });
        let entries = lines.chain(plot.events.iter().enumerate().map(|(i, event)| {
            let colour = EVENT_COLOURS[i % EVENT_COLOURS.len()];
            (colour, format!("{:.3} s: {}", event.seconds, event.label))
        }));
        for (row, (colour, label)) in entries.enumerate() {
            let y = (LEGEND_LINE / 2 + LEGEND_LINE * row as u32) as i32;
            legend_area
                .draw(&PathElement::new(
                    [(90, y), (120, y)],
                    colour.stroke_width(3),
                ))
                .map_err(text_error)?;
            legend_area
                .draw(&Text::new(
                    label,
                    (130, y - 8),
                    ("sans-serif", 15).into_font().color(&BLACK),
                ))
                .map_err(text_error)?;
        }
    }
    root.present().map_err(text_error)
}

/// Registers the first available font as "sans-serif", once; whether one was found.
pub(crate) fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONT_CANDIDATES.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            // The registry keeps `&'static` font data: leak this one file, once per process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_files_are_written_as_png_and_svg() {
        let dir = tempfile::tempdir().expect("temp dir");
        let points: Vec<ThroughputPoint> = (0..20)
            .map(|k| ThroughputPoint {
                seconds: k as f64 * 0.1 + 0.05,
                megabytes_per_second: if k == 8 { 0.0 } else { 50.0 },
            })
            .collect();
        let events = [TraceEvent {
            seconds: 0.8,
            label: "replica 0 killed".to_owned(),
        }];
        let files = write_throughput_plot(
            &dir.path().join("throughput"),
            &ThroughputPlot {
                title: "test",
                points: &points,
                events: &events,
            },
        )
        .expect("plot");
        let png = std::fs::read(&files.png).expect("png");
        assert_eq!(&png[1..4], b"PNG");
        let svg = std::fs::read_to_string(&files.svg).expect("svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    }

    #[test]
    fn every_series_gets_a_line_and_a_legend_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let line = |rate: f64| -> Vec<ThroughputPoint> {
            (0..10)
                .map(|k| ThroughputPoint {
                    seconds: k as f64 * 0.1 + 0.05,
                    megabytes_per_second: rate,
                })
                .collect()
        };
        let (fast, slow) = (line(40.0), line(10.0));
        let series = [
            ThroughputSeries {
                name: "Trickles",
                points: &fast,
            },
            ThroughputSeries {
                name: "TCP",
                points: &slow,
            },
        ];
        let files = write_throughput_series_plot(&dir.path().join("both"), "two", &series, &[])
            .expect("plot");
        let svg = std::fs::read_to_string(&files.svg).expect("svg");
        for colour in ["#0000FF", "#FF7F0E"] {
            assert!(svg.contains(colour), "a line in {colour}");
        }
        if files.has_text {
            assert!(svg.contains("Trickles") && svg.contains("TCP"), "legend");
        }
    }
}
