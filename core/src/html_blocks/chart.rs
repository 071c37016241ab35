//! Inline SVG charts drawn with plotters' SVG backend.
//!
//! plotters is built without `ttf`/`ab_glyph`: text is emitted as SVG `<text>` with a
//! generic `sans-serif` family and laid out with plotters' naive width estimate, so
//! neither the build nor the rendering needs a system font; the browser draws the
//! text with whatever sans-serif font it has. plotters escapes every text it writes.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A colour of the charts.
pub use plotters::style::RGBColor as Rgb;

/// Width and height of every chart, px (the page is laid out for 1280 px).
const SIZE: (u32, u32) = (1100, 380);

/// Series colours, in order (colour-blind-safe Okabe-Ito).
pub const PALETTE: &[RGBColor] = &[
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
];
/// Green (ok).
pub const OK: RGBColor = RGBColor(0, 158, 115);
/// Red (kill, failure, alert).
pub const BAD: RGBColor = RGBColor(200, 30, 30);
/// Orange (indeterminate, pause).
pub const WARN: RGBColor = RGBColor(230, 159, 0);
/// Grey (graceful stops, checkpoints).
pub const GREY: RGBColor = RGBColor(110, 110, 110);

/// One series of a line or point chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Dots instead of a line.
    pub dots: bool,
}

/// A vertical or horizontal marker line with a label.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Position on its axis.
    pub at: f64,
    /// Label drawn next to it.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
}

/// A shaded x interval (e.g. a pause).
pub struct Band {
    /// Start and end on the x axis.
    pub from: f64,
    /// End.
    pub to: f64,
    /// Label.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
}

/// Everything a line chart shows.
#[derive(Default)]
pub struct LineChart {
    /// Caption.
    pub title: String,
    /// X axis description.
    pub x_desc: String,
    /// Y axis description.
    pub y_desc: String,
    /// Series.
    pub series: Vec<Series>,
    /// Vertical markers.
    pub vlines: Vec<Marker>,
    /// Horizontal markers (thresholds).
    pub hlines: Vec<Marker>,
    /// Shaded x intervals.
    pub bands: Vec<Band>,
    /// Force the y axis to start at 0.
    pub y_from_zero: bool,
}

/// plotters' error, as text.
fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("chart drawing failed: {e:?}")
}

/// The range `lo..hi` widened so that it is never empty and has a little headroom.
fn padded(lo: f64, hi: f64, from_zero: bool) -> (f64, f64) {
    let lo = if from_zero { lo.min(0.0) } else { lo };
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return (lo - 1.0, lo + 1.0);
    }
    let pad = (hi - lo) * 0.06;
    (if from_zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
}

impl LineChart {
    /// The chart as an SVG element.
    pub fn svg(&self) -> Result<String, String> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.vlines.iter().map(|m| m.at))
            .chain(self.bands.iter().flat_map(|b| [b.from, b.to]));
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.hlines.iter().map(|m| m.at));
        let (xlo, xhi) = min_max(xs);
        let (ylo, yhi) = min_max(ys);
        let (xlo, xhi) = padded(xlo, xhi, false);
        let (ylo, yhi) = padded(ylo, yhi, self.y_from_zero);
        let mut buf = String::new();
        {
            let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            self.draw(&root, (xlo, xhi), (ylo, yhi))?;
            root.present().map_err(err)?;
        }
        Ok(buf)
    }

    /// Draws on `area`.
    fn draw(
        &self,
        area: &DrawingArea<SVGBackend<'_>, Shift>,
        (xlo, xhi): (f64, f64),
        (ylo, yhi): (f64, f64),
    ) -> Result<(), String> {
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for b in &self.bands {
            let c = b.color;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(b.from, ylo), (b.to, yhi)],
                    c.mix(0.18).filled(),
                )))
                .map_err(err)?
                .label(b.label.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.mix(0.4).filled())
                });
        }
        for s in &self.series {
            let c = s.color;
            let drawn = if s.dots {
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|p| Circle::new(*p, 2, c.mix(0.7).filled())),
                    )
                    .map_err(err)?
            } else {
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
            };
            drawn
                .label(s.label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 18, y + 4)], c.filled()));
        }
        for m in &self.hlines {
            let c = m.color;
            chart
                .draw_series(DashedLineSeries::new(
                    [(xlo, m.at), (xhi, m.at)],
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(err)?
                .label(m.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
        }
        for m in &self.vlines {
            draw_vline(&mut chart, m, (xlo, xhi), (ylo, yhi))?;
        }
        if !self.series.is_empty() || !self.hlines.is_empty() || !self.bands.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font(("sans-serif", 13))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

/// A vertical marker line with its label at the top.
fn draw_vline(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    m: &Marker,
    (xlo, xhi): (f64, f64),
    (ylo, yhi): (f64, f64),
) -> Result<(), String> {
    let c = m.color;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(m.at, ylo), (m.at, yhi)],
            c.stroke_width(2),
        )))
        .map_err(err)?;
    // Labels of markers in the right half are drawn to their left, so that none runs
    // past the plot's edge.
    let h = if m.at > (xlo + xhi) / 2.0 {
        HPos::Right
    } else {
        HPos::Left
    };
    chart
        .draw_series(std::iter::once(Text::new(
            m.label.clone(),
            (m.at, yhi),
            ("sans-serif", 12)
                .into_font()
                .color(&c)
                .pos(Pos::new(h, VPos::Top)),
        )))
        .map_err(err)?;
    Ok(())
}

/// Smallest and largest of `values` (0, 0 when empty).
fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 0.0))
}

/// A bar chart of one value per category (e.g. throughput per tier).
pub fn bars(
    title: &str,
    y_desc: &str,
    bars: &[(String, f64)],
    color: RGBColor,
) -> Result<String, String> {
    let n = bars.len().max(1);
    let (_, yhi) = min_max(bars.iter().map(|b| b.1));
    let (_, yhi) = padded(0.0, yhi * 1.08, true);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..yhi)
            .map_err(err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor();
                if (x - i - 0.5).abs() < 1e-6 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new(
                    [(i as f64 + 0.2, 0.0), (i as f64 + 0.8, b.1)],
                    color.filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Text::new(
                    format!("{:.1}", b.1),
                    (i as f64 + 0.3, b.1 + yhi * 0.02),
                    ("sans-serif", 13).into_font(),
                )
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// One lane of a timeline: labelled intervals and instants on a shared x axis.
pub struct Lane {
    /// Lane label (left of the lane).
    pub label: String,
    /// `(from, to, colour, label)` intervals.
    pub spans: Vec<(f64, f64, RGBColor)>,
    /// `(at, colour)` instants, drawn as ticks.
    pub ticks: Vec<(f64, RGBColor)>,
}

/// A timeline: one lane per row, x in seconds. Its legend is drawn by the page
/// ([`legend_html`]), outside the plot, so it can never hide an event.
pub fn timeline(title: &str, x_desc: &str, lanes: &[Lane]) -> Result<String, String> {
    let xs = lanes.iter().flat_map(|l| {
        l.spans
            .iter()
            .flat_map(|s| [s.0, s.1])
            .chain(l.ticks.iter().map(|t| t.0))
            .collect::<Vec<_>>()
    });
    let (xlo, xhi) = min_max(xs);
    let (xlo, xhi) = padded(xlo, xhi, false);
    let rows = lanes.len().max(1) as f64;
    let mut buf = String::new();
    {
        let height = 90 + 46 * lanes.len() as u32;
        let root = SVGBackend::with_string(&mut buf, (SIZE.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let names: Vec<String> = lanes.iter().map(|l| l.label.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d(xlo..xhi, 0f64..rows)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(lanes.len() * 2 + 1)
            .y_label_formatter(&|y| {
                let i = y.floor();
                if (y - i - 0.5).abs() < 1e-6 {
                    // Lane 0 is drawn at the top.
                    names
                        .get(names.len().saturating_sub(1 + i as usize))
                        .cloned()
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc(x_desc)
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, lane) in lanes.iter().enumerate() {
            let y0 = rows - 1.0 - i as f64;
            chart
                .draw_series(lane.spans.iter().map(|(a, b, c)| {
                    Rectangle::new([(*a, y0 + 0.25), (*b, y0 + 0.75)], c.mix(0.75).filled())
                }))
                .map_err(err)?;
            chart
                .draw_series(lane.ticks.iter().map(|(t, c)| {
                    PathElement::new(vec![(*t, y0 + 0.1), (*t, y0 + 0.9)], c.stroke_width(2))
                }))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// A legend as HTML: a coloured square and a label per entry.
pub fn legend_html(entries: &[(&str, RGBColor)]) -> String {
    entries
        .iter()
        .map(|(label, c)| {
            format!(
                "<span class=\"key\"><span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>{}</span>",
                c.0,
                c.1,
                c.2,
                super::esc(label)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}
