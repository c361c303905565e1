//! Draws a Grafana dashboard without Grafana: every panel of the dashboard JSON (the project's
//! `dashboards/failover.json`) in its grid position, filled from a real Prometheus'
//! `query_range` answers, into one PNG and one SVG. What someone without Grafana sees of a run
//! (`trickles-lab demo --observe`).
//!
//! Panel types drawn: `row` (a heading), `timeseries` (one line per series, labelled by the
//! target's legend format, with the dashboard's annotations as vertical lines), `stat` (the last
//! value), `state-timeline` (one band per series: green while 1, red while 0, blank without
//! data), `table` (one line per series, its labels). Queries run as Grafana runs them with the
//! dashboard's variables set to "All" ([`trickles_observe::expand_variables`]).

use std::path::Path;
use std::time::Duration;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use trickles_observe::{expand_variables, Expansion, PrometheusServer};

use crate::error::{LabError, Result};
use crate::plot::{font_registered, PlotFiles};

/// Pixels of one grid column (24 across) and one grid row.
const COLUMN: i32 = 60;
const ROW: i32 = 26;
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
];

/// What to ask Prometheus for: Unix seconds, the step, the time shown as 0 on the x axes.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First instant.
    pub start: f64,
    /// Last instant.
    pub end: f64,
    /// Between two points.
    pub step: Duration,
    /// The instant drawn as t = 0 (the client's start).
    pub origin: f64,
}

/// One series of a panel: its legend and `(seconds since origin, value)` points.
type Line = (String, Vec<(f64, f64)>);

/// What was drawn.
#[derive(Clone, Debug)]
pub struct RenderedDashboard {
    /// The PNG and the SVG.
    pub files: PlotFiles,
    /// Every panel's title and how many series its queries returned.
    pub panels: Vec<(String, usize)>,
}

impl RenderedDashboard {
    /// The series the panel titled `title` showed (0 for an unknown title).
    pub fn series_of(&self, title: &str) -> usize {
        self.panels
            .iter()
            .find(|(t, _)| t == title)
            .map_or(0, |(_, n)| *n)
    }
}

/// Renders `dashboard` into `STEM.png` and `STEM.svg` from `prometheus` over `window`, with
/// `$__rate_interval` and `$__interval` set to `rate_interval`.
pub fn render_dashboard(
    prometheus: &PrometheusServer,
    dashboard: &Path,
    window: Window,
    rate_interval: &str,
    stem: &Path,
) -> Result<RenderedDashboard> {
    let bad = |reason: String| LabError::Usage(format!("{}: {reason}", dashboard.display()));
    let text = std::fs::read_to_string(dashboard).map_err(|e| LabError::io(dashboard, e))?;
    let board: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let expansion = Expansion {
        rate_interval: rate_interval.to_owned(),
        interval: rate_interval.to_owned(),
        ..Expansion::default()
    };
    let ask = |expr: &str, legend: &str| -> Result<Vec<Line>> {
        let answer = prometheus
            .query_range(
                &expand_variables(expr, &expansion),
                window.start,
                window.end,
                window.step,
            )
            .map_err(|e| bad(format!("{expr}: {e}")))?;
        Ok(lines(&answer.result, legend, window.origin))
    };
    let mut markers = Vec::new();
    for annotation in board["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = annotation["expr"].as_str() {
            let colour = match annotation["iconColor"].as_str() {
                Some("green") => RGBColor(0, 150, 60),
                _ => RGBColor(214, 39, 40),
            };
            for (_, points) in ask(expr, "")? {
                markers.extend(points.first().map(|&(t, _)| (t, colour)));
            }
        }
    }
    let mut panels = Vec::new();
    for panel in board["panels"].as_array().into_iter().flatten() {
        let mut series = Vec::new();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                series.extend(ask(expr, target["legendFormat"].as_str().unwrap_or(""))?);
            }
        }
        panels.push((panel.clone(), series));
    }
    let height = panels
        .iter()
        .map(|(p, _)| grid(p, "y") + grid(p, "h"))
        .max()
        .unwrap_or(1)
        * ROW
        + 40;
    let size = ((24 * COLUMN) as u32, height as u32);
    let title = board["title"].as_str().unwrap_or("dashboard");
    let has_text = font_registered();
    let (png, svg) = (stem.with_extension("png"), stem.with_extension("svg"));
    let duration = window.end - window.origin;
    // A series with no sample for this long has a gap: drawn as one, not as a flat line.
    let gap = window.step.as_secs_f64() * 2.5;
    let view = View {
        duration,
        gap,
        has_text,
    };
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        title,
        &panels,
        &markers,
        view,
    )
    .map_err(|reason| LabError::Plot {
        path: png.clone(),
        reason,
    })?;
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        title,
        &panels,
        &markers,
        view,
    )
    .map_err(|reason| LabError::Plot {
        path: svg.clone(),
        reason,
    })?;
    let panels = panels
        .iter()
        .map(|(panel, series)| {
            (
                panel["title"].as_str().unwrap_or("").to_owned(),
                series.len(),
            )
        })
        .collect();
    Ok(RenderedDashboard {
        files: PlotFiles { png, svg, has_text },
        panels,
    })
}

/// The series of a matrix answer, named by `legend` (`{{label}}` replaced by its value).
fn lines(result: &Value, legend: &str, origin: f64) -> Vec<Line> {
    let mut out = Vec::new();
    for series in result.as_array().into_iter().flatten() {
        let labels = series["metric"].as_object();
        let mut name = legend.to_owned();
        for (label, value) in labels.into_iter().flatten() {
            name = name.replace(&format!("{{{{{label}}}}}"), value.as_str().unwrap_or(""));
        }
        if name.is_empty() {
            let pairs = labels.into_iter().flatten();
            let pairs: Vec<String> = pairs
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            name = pairs.join(", ");
        }
        let points = series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pair| {
                let t = pair[0].as_f64()?;
                let v: f64 = pair[1].as_str()?.parse().ok()?;
                v.is_finite().then_some((t - origin, v))
            })
            .collect();
        out.push((name, points));
    }
    out
}

/// The x range, the longest interval that is not a gap, and whether text can be drawn.
#[derive(Clone, Copy)]
struct View {
    duration: f64,
    gap: f64,
    has_text: bool,
}

/// `12.3M`, `4.5k`, `0.25`: a value short enough for an axis.
fn si(value: f64) -> String {
    let magnitude = value.abs();
    match magnitude {
        m if m >= 1e9 => format!("{:.1}G", value / 1e9),
        m if m >= 1e6 => format!("{:.1}M", value / 1e6),
        m if m >= 1e3 => format!("{:.1}k", value / 1e3),
        m if m >= 10.0 || m == 0.0 => format!("{value:.0}"),
        _ => format!("{value:.2}"),
    }
}

fn grid(panel: &Value, key: &str) -> i32 {
    panel["gridPos"][key].as_i64().unwrap_or(0) as i32
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[(Value, Vec<Line>)],
    markers: &[(f64, RGBColor)],
    view: View,
) -> std::result::Result<(), String> {
    let has_text = view.has_text;
    let error = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(error)?;
    let font = |size: i32| ("sans-serif", size).into_font().color(&BLACK);
    if has_text {
        root.draw(&Text::new(title.to_owned(), (10, 8), font(22)))
            .map_err(error)?;
    }
    for (panel, series) in panels {
        let (x, y) = (grid(panel, "x") * COLUMN, grid(panel, "y") * ROW + 40);
        let (w, h) = (grid(panel, "w") * COLUMN, grid(panel, "h") * ROW);
        let area = root.clone().shrink(
            (x + 3, y + 3),
            ((w - 6).max(1) as u32, (h - 6).max(1) as u32),
        );
        let name = panel["title"].as_str().unwrap_or("").to_owned();
        let kind = panel["type"].as_str().unwrap_or("");
        if kind == "row" {
            if has_text {
                area.draw(&Text::new(name, (2, 2), font(17)))
                    .map_err(error)?;
            }
            continue;
        }
        let (pw, ph) = area.dim_in_pixel();
        area.draw(&Rectangle::new(
            [(0, 0), (pw as i32 - 1, ph as i32 - 1)],
            RGBColor(200, 200, 200),
        ))
        .map_err(error)?;
        let unit = panel["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or("");
        if has_text {
            area.draw(&Text::new(format!("{name} ({unit})"), (6, 4), font(14)))
                .map_err(error)?;
        }
        let body = area.margin(22, 4, 6, 6);
        match kind {
            "timeseries" => chart(&body, series, markers, view).map_err(error)?,
            "stat" => {
                let last = series
                    .iter()
                    .filter_map(|(_, p)| p.last())
                    .map(|&(_, v)| v)
                    .next();
                let text = last.map_or_else(|| "no data".to_owned(), si);
                if has_text {
                    body.draw(&Text::new(text, (10, 30), font(30)))
                        .map_err(error)?;
                }
            }
            "state-timeline" => bands(&body, series, view).map_err(error)?,
            _ => {
                for (i, (label, _)) in series.iter().enumerate().take(8) {
                    if has_text {
                        body.draw(&Text::new(label.clone(), (6, 16 * i as i32), font(13)))
                            .map_err(error)?;
                    }
                }
            }
        }
    }
    root.present().map_err(error)
}

fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Line],
    markers: &[(f64, RGBColor)],
    view: View,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let View {
        duration,
        gap,
        has_text,
    } = view;
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, v)| v))
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut builder = ChartBuilder::on(area);
    if has_text {
        builder.x_label_area_size(18).y_label_area_size(52);
    }
    let mut chart = builder.build_cartesian_2d(0.0..duration.max(0.1), 0.0..top)?;
    let mut mesh = chart.configure_mesh();
    mesh.label_style(("sans-serif", 11))
        .x_labels(6)
        .y_labels(4)
        .y_label_formatter(&|v| si(*v));
    if !has_text {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for &(t, colour) in markers {
        chart.draw_series(std::iter::once(PathElement::new(
            [(t, 0.0), (t, top)],
            colour.stroke_width(2),
        )))?;
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Gaps where a series has no sample for more than two steps: no misleading flat line.
        let mut segment: Vec<(f64, f64)> = Vec::new();
        for &point in points {
            if segment.last().is_some_and(|&(t, _)| point.0 - t > gap) {
                chart.draw_series(LineSeries::new(
                    std::mem::take(&mut segment),
                    colour.stroke_width(2),
                ))?;
            }
            segment.push(point);
        }
        chart
            .draw_series(LineSeries::new(segment, colour.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
    }
    if has_text && !series.is_empty() {
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.8))
            .draw()?;
    }
    Ok(())
}

fn bands<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Line],
    view: View,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let View {
        duration,
        gap,
        has_text,
    } = view;
    let (w, h) = area.dim_in_pixel();
    let left = if has_text { 90 } else { 0 };
    let band = (h as i32 / series.len().max(1) as i32).min(24);
    let x = |t: f64| left + ((t / duration.max(0.1)) * (w as i32 - left) as f64) as i32;
    for (i, (name, points)) in series.iter().enumerate() {
        let y = i as i32 * band;
        if has_text {
            let label = Text::new(name.clone(), (2, y + 4), ("sans-serif", 12).into_font());
            area.draw(&label)?;
        }
        for pair in points.windows(2) {
            let colour = if pair[0].1 > 0.5 {
                RGBColor(44, 160, 44)
            } else {
                RGBColor(214, 39, 40)
            };
            if pair[1].0 - pair[0].0 <= gap {
                area.draw(&Rectangle::new(
                    [(x(pair[0].0), y + 2), (x(pair[1].0), y + band - 2)],
                    colour.filled(),
                ))?;
            }
        }
    }
    Ok(())
}
