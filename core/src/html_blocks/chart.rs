//! Inline SVG charts: data → a [`Model`] (plot area, points in pixels, legend box,
//! every label with its box) → SVG.
//!
//! The model exists so that what a reader must be able to trust is tested on it rather
//! than on pixels: every point lies inside the plot area, the legend box (outside the
//! plot, between the title and the plot) never covers a point, no two labels overlap,
//! ticks of an integer axis read as integers, and a threshold outside the data's range
//! is drawn at the edge with its value instead of stretching the axis until the data is
//! a flat line. Text widths are estimated (no font is loaded: the browser draws the
//! text with its own sans-serif), generously, so an estimate that is disjoint is
//! disjoint on screen too.
//!
//! The lifecycle [`timeline`] is drawn with plotters' SVG backend (built without font
//! rasterising); its legend is HTML under the chart, so it never covers a lane.

use maud::{html, Markup, PreEscaped};
use plotters::prelude::*;

/// A colour of the charts.
pub use plotters::style::RGBColor as Rgb;

/// Width of every chart, px (the page is laid out for 1280 px).
const WIDTH: f64 = 1100.0;
/// Height of a line or bar chart's plot area, px.
const PLOT_H: f64 = 260.0;
/// Left margin (y tick labels and the y description), px.
const LEFT: f64 = 86.0;
/// Right margin with threshold labels, px.
const RIGHT: f64 = 190.0;
/// Right margin without, px.
const RIGHT_BARE: f64 = 24.0;
/// Font sizes, px.
const TITLE_PX: f64 = 17.0;
const TEXT_PX: f64 = 12.0;
/// Height of one row of legend or marker labels, px.
const ROW: f64 = 18.0;

/// Series colours, in order (colour-blind-safe Okabe-Ito).
pub const PALETTE: &[Rgb] = &[
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
];
/// Green (ok).
pub const OK: Rgb = RGBColor(0, 158, 115);
/// Red (kill, failure, alert).
pub const BAD: Rgb = RGBColor(200, 30, 30);
/// Orange (indeterminate, pause).
pub const WARN: Rgb = RGBColor(230, 159, 0);
/// Grey (graceful stops, checkpoints).
pub const GREY: Rgb = RGBColor(110, 110, 110);

/// One series of a line or point chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: Rgb,
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
    pub color: Rgb,
}

/// A shaded x interval (e.g. a pause).
pub struct Band {
    /// Start on the x axis.
    pub from: f64,
    /// End.
    pub to: f64,
    /// Label.
    pub label: String,
    /// Colour.
    pub color: Rgb,
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
    /// Vertical markers (events at their own x; labels above the plot).
    pub vlines: Vec<Marker>,
    /// Horizontal markers (thresholds; labels right of the plot).
    pub hlines: Vec<Marker>,
    /// Shaded x intervals.
    pub bands: Vec<Band>,
    /// Start the y axis at 0 (counts, throughput); otherwise the axis fits the data.
    pub y_from_zero: bool,
    /// The y axis never goes above this (100 for a percentage).
    pub y_cap: Option<f64>,
}

/// An axis-aligned box, px (y grows downwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left.
    pub x0: f64,
    /// Top.
    pub y0: f64,
    /// Right.
    pub x1: f64,
    /// Bottom.
    pub y1: f64,
}

impl Rect {
    /// Whether the point lies inside or on the edge.
    pub fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x0 - 1e-9 && x <= self.x1 + 1e-9 && y >= self.y0 - 1e-9 && y <= self.y1 + 1e-9
    }

    /// Whether the two boxes share any area.
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// Horizontal anchor of a label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Anchor {
    /// `x` is the left end.
    Start,
    /// `x` is the middle.
    Middle,
    /// `x` is the right end.
    End,
}

/// A text placed on the chart; `y` is its baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Text.
    pub text: String,
    /// Anchor x, px.
    pub x: f64,
    /// Baseline y, px.
    pub y: f64,
    /// Anchor.
    pub anchor: Anchor,
    /// Font size, px.
    pub size: f64,
    /// Colour.
    pub color: Rgb,
    /// Rotated a quarter turn anticlockwise (the y description).
    pub vertical: bool,
}

/// Estimated width of `text` at `size` px: 0.62 em a character, more than the average
/// sans-serif glyph, so boxes err on the large side.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.62
}

impl Label {
    /// A horizontal label of the body size.
    fn new(text: impl Into<String>, (x, y): (f64, f64), anchor: Anchor, color: Rgb) -> Self {
        Label {
            text: text.into(),
            x,
            y,
            anchor,
            size: TEXT_PX,
            color,
            vertical: false,
        }
    }

    /// The box the label covers (estimated).
    pub fn bbox(&self) -> Rect {
        let w = text_width(&self.text, self.size);
        let (a, b) = match self.anchor {
            Anchor::Start => (0.0, w),
            Anchor::Middle => (-w / 2.0, w / 2.0),
            Anchor::End => (-w, 0.0),
        };
        if self.vertical {
            // Rotated about (x, y): the text runs upwards from y.
            Rect {
                x0: self.x - self.size,
                y0: self.y - b,
                x1: self.x + 0.25 * self.size,
                y1: self.y - a,
            }
        } else {
            Rect {
                x0: self.x + a,
                y0: self.y - self.size,
                x1: self.x + b,
                y1: self.y + 0.25 * self.size,
            }
        }
    }
}

/// What is drawn for one series, in px.
#[derive(Clone, Debug)]
pub struct Drawn {
    /// Colour.
    pub color: Rgb,
    /// Points, px.
    pub points: Vec<(f64, f64)>,
    /// Dots rather than a line.
    pub dots: bool,
}

/// A straight line, px, dashed or solid.
#[derive(Clone, Debug)]
pub struct Rule {
    /// From.
    pub from: (f64, f64),
    /// To.
    pub to: (f64, f64),
    /// Colour.
    pub color: Rgb,
    /// Dashed (thresholds).
    pub dashed: bool,
}

/// A chart laid out in pixels: what the SVG draws, and what the tests check.
#[derive(Clone, Debug)]
pub struct Model {
    /// Width and height, px.
    pub size: (f64, f64),
    /// The plot area.
    pub plot: Rect,
    /// The legend box (outside the plot), when there is a legend.
    pub legend: Option<Rect>,
    /// Legend entries: swatch colour and label.
    pub legend_entries: Vec<(Rgb, Label)>,
    /// Series.
    pub series: Vec<Drawn>,
    /// Filled boxes (bars, shaded bands): box, colour, opacity.
    pub boxes: Vec<(Rect, Rgb, f64)>,
    /// Marker lines and the axes' grid lines are drawn from these.
    pub rules: Vec<Rule>,
    /// Tick values of each axis (data units), for the integer-tick check.
    pub ticks: (Vec<f64>, Vec<f64>),
    /// Every text: title, axis descriptions, tick labels, marker and value labels.
    pub labels: Vec<Label>,
}

/// The smallest and largest value on an axis, data units.
type Span = (f64, f64);

/// A linear scale from data units to px.
#[derive(Clone, Copy, Debug)]
struct Scale {
    lo: f64,
    hi: f64,
    px0: f64,
    px1: f64,
}

impl Scale {
    fn px(&self, v: f64) -> f64 {
        self.px0 + (v - self.lo) / (self.hi - self.lo) * (self.px1 - self.px0)
    }
}

/// Smallest and largest of `values`, finite ones only.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `want` ticks over `span`.
fn nice_step(span: f64, want: f64) -> f64 {
    let raw = (span / want).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The axis range and its ticks: `lo..hi` widened to whole steps (never empty); the
/// range starts at 0 when `from_zero` and the data is not negative.
fn axis(lo: f64, hi: f64, from_zero: bool, want: f64) -> (f64, f64, Vec<f64>) {
    let lo = if from_zero { lo.min(0.0) } else { lo };
    // A flat series gets a narrow axis around its value (100 % stays readable next to
    // a 99.9 % threshold).
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo - lo.abs() * 0.01, hi + hi.abs() * 0.01)
    };
    let step = nice_step(hi - lo, want);
    let (a, b) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let n = ((b - a) / step).round() as i64;
    let ticks = (0..=n).map(|i| a + i as f64 * step).collect();
    (a, b, ticks)
}

/// A tick's text: an integer without a decimal point when the step is whole, else as
/// many decimals as the step needs.
pub fn tick_text(v: f64, step: f64) -> String {
    if step.fract() == 0.0 && step >= 1.0 {
        format!("{:.0}", v.round())
    } else {
        let digits = (-step.log10().floor()).max(0.0) as usize;
        format!("{v:.digits$}")
    }
}

/// Places labels in rows above `top`: each goes in the first row where it overlaps no
/// label already placed. Returns the labels and the number of rows used.
fn stack_rows(mut labels: Vec<Label>, top: f64) -> (Vec<Label>, usize) {
    let mut placed: Vec<Label> = Vec::new();
    let mut rows = 0;
    for l in labels.drain(..) {
        let mut row = 0;
        loop {
            let mut c = l.clone();
            c.y = top - 4.0 - row as f64 * ROW;
            if placed.iter().all(|p| !p.bbox().overlaps(&c.bbox())) {
                rows = rows.max(row + 1);
                placed.push(c);
                break;
            }
            row += 1;
        }
    }
    (placed, rows)
}

/// Legend entries laid out left to right from (`x0`, `y`), wrapping at `x1`; returns
/// the entries and the box around them.
fn legend_rows(
    entries: &[(String, Rgb)],
    x0: f64,
    x1: f64,
    y: f64,
) -> (Vec<(Rgb, Label)>, Option<Rect>) {
    if entries.is_empty() {
        return (Vec::new(), None);
    }
    let (mut x, mut row) = (x0 + 6.0, 0.0);
    let mut out = Vec::new();
    for (text, c) in entries {
        let w = 22.0 + text_width(text, TEXT_PX) + 16.0;
        if x + w > x1 && x > x0 + 6.0 {
            x = x0 + 6.0;
            row += 1.0;
        }
        out.push((
            *c,
            Label::new(
                text.clone(),
                (x + 22.0, y + 14.0 + row * ROW),
                Anchor::Start,
                RGBColor(30, 30, 30),
            ),
        ));
        x += w;
    }
    let bottom = y + 14.0 + row * ROW + 6.0;
    (
        out,
        Some(Rect {
            x0,
            y0: y,
            x1,
            y1: bottom,
        }),
    )
}

impl LineChart {
    /// The chart as inline SVG.
    pub fn svg(&self) -> Result<Markup, String> {
        Ok(self.model()?.svg())
    }

    /// The x and y ranges of the data: x over series, bands and markers; y over the
    /// series only (a threshold outside is drawn at the edge, not fitted).
    fn ranges(&self) -> Result<(Span, Span), String> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.vlines.iter().map(|m| m.at))
            .chain(self.bands.iter().flat_map(|b| [b.from, b.to]));
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let x = min_max(xs).ok_or("no data to draw")?;
        let y = min_max(ys).ok_or("no data to draw")?;
        Ok((x, y))
    }

    /// The chart laid out in pixels.
    pub fn model(&self) -> Result<Model, String> {
        let ((xlo, xhi), (ylo, yhi)) = self.ranges()?;
        let mut legend: Vec<(String, Rgb)> = self
            .series
            .iter()
            .map(|s| (s.label.clone(), s.color))
            .collect();
        legend.extend(
            self.bands
                .iter()
                .map(|b| (format!("{} (shaded)", b.label), b.color)),
        );
        legend.extend(
            self.hlines
                .iter()
                .map(|m| (format!("{} (dashed)", m.label), m.color)),
        );
        let right = if self.hlines.is_empty() {
            RIGHT_BARE
        } else {
            RIGHT
        };
        let (legend_entries, legend_box) = legend_rows(&legend, LEFT, WIDTH - right, 30.0);
        let below_legend = legend_box.map_or(34.0, |b| b.y1 + 6.0);
        let v_labels: Vec<Label> = self
            .vlines
            .iter()
            .map(|m| Label::new(m.label.clone(), (0.0, 0.0), Anchor::Middle, m.color))
            .collect();
        // Rows of event labels are stacked upwards from the plot's top, so the plot
        // starts below as many rows as they need (first a trial layout to count them).
        let (x0, x1, xt) = axis(xlo, xhi, false, 8.0);
        let (y0, y1, yt) = axis(ylo, yhi, self.y_from_zero, 5.0);
        let (y0, y1, yt) = match self.y_cap {
            Some(cap) if y1 > cap => {
                let keep: Vec<f64> = yt.into_iter().filter(|t| *t <= cap + 1e-9).collect();
                let lo = if y0 < cap { y0 } else { cap - 1.0 };
                (lo, cap, if keep.is_empty() { vec![lo, cap] } else { keep })
            }
            _ => (y0, y1, yt),
        };
        let xs = Scale {
            lo: x0,
            hi: x1,
            px0: LEFT,
            px1: WIDTH - right,
        };
        let place = |top: f64| {
            let ls = self.vlines.iter().zip(&v_labels).map(|(m, l)| {
                let mut l = l.clone();
                l.x = xs.px(m.at);
                let half = text_width(&l.text, l.size) / 2.0;
                l.x = l.x.clamp(LEFT + half, WIDTH - right - half);
                l
            });
            stack_rows(ls.collect(), top)
        };
        let rows = place(1000.0).1 as f64;
        let top = below_legend + rows * ROW + 4.0;
        let plot = Rect {
            x0: LEFT,
            y0: top,
            x1: WIDTH - right,
            y1: top + PLOT_H,
        };
        let ys = Scale {
            lo: y0,
            hi: y1,
            px0: plot.y1,
            px1: plot.y0,
        };
        let mut m = Model {
            size: (WIDTH, plot.y1 + 52.0),
            plot,
            legend: legend_box,
            legend_entries,
            series: Vec::new(),
            boxes: Vec::new(),
            rules: Vec::new(),
            ticks: (xt, yt),
            labels: vec![Label {
                size: TITLE_PX,
                ..Label::new(
                    self.title.clone(),
                    (WIDTH / 2.0, 20.0),
                    Anchor::Middle,
                    RGBColor(20, 20, 20),
                )
            }],
        };
        m.axes(&xs, &ys, &self.x_desc, &self.y_desc);
        m.labels.extend(place(plot.y0).0);
        self.draw_data(&mut m, &xs, &ys);
        Ok(m)
    }

    /// Bands, series, event lines and thresholds onto the model.
    fn draw_data(&self, m: &mut Model, xs: &Scale, ys: &Scale) {
        let p = m.plot;
        for b in &self.bands {
            let r = Rect {
                x0: xs.px(b.from),
                y0: p.y0,
                x1: xs.px(b.to),
                y1: p.y1,
            };
            m.boxes.push((r, b.color, 0.18));
        }
        for s in &self.series {
            let points = s
                .points
                .iter()
                .filter(|q| q.0.is_finite() && q.1.is_finite())
                .map(|q| (xs.px(q.0), ys.px(q.1)))
                .collect();
            m.series.push(Drawn {
                color: s.color,
                points,
                dots: s.dots,
            });
        }
        for v in &self.vlines {
            let x = xs.px(v.at);
            m.rules.push(Rule {
                from: (x, p.y0),
                to: (x, p.y1),
                color: v.color,
                dashed: false,
            });
        }
        let mut right: Vec<Label> = Vec::new();
        for h in &self.hlines {
            // A threshold outside the axis is marked at the edge it lies beyond, with its
            // value, rather than stretching the axis until the data is a flat line.
            let y = ys.px(h.at);
            let (y, text) = if y < p.y0 {
                (p.y0, format!("\u{25b2} {}", h.label))
            } else if y > p.y1 {
                (p.y1, format!("\u{25bc} {}", h.label))
            } else {
                (y, h.label.clone())
            };
            m.rules.push(Rule {
                from: (p.x0, y),
                to: (p.x1, y),
                color: h.color,
                dashed: true,
            });
            let mut l = Label::new(text, (p.x1 + 6.0, y + 4.0), Anchor::Start, h.color);
            while right.iter().any(|o| o.bbox().overlaps(&l.bbox())) {
                l.y += ROW;
            }
            right.push(l);
        }
        m.labels.extend(right);
    }
}

impl Model {
    /// Grid, ticks and axis descriptions.
    fn axes(&mut self, xs: &Scale, ys: &Scale, x_desc: &str, y_desc: &str) {
        let p = self.plot;
        let ink = RGBColor(60, 60, 60);
        let step = |t: &[f64]| if t.len() > 1 { t[1] - t[0] } else { 1.0 };
        let (xt, yt) = self.ticks.clone();
        let (sx, sy) = (step(&xt), step(&yt));
        for v in &xt {
            let x = xs.px(*v);
            self.rules.push(Rule {
                from: (x, p.y0),
                to: (x, p.y1),
                color: RGBColor(236, 236, 236),
                dashed: false,
            });
            self.labels.push(Label::new(
                tick_text(*v, sx),
                (x, p.y1 + 20.0),
                Anchor::Middle,
                ink,
            ));
        }
        for v in &yt {
            let y = ys.px(*v);
            self.rules.push(Rule {
                from: (p.x0, y),
                to: (p.x1, y),
                color: RGBColor(236, 236, 236),
                dashed: false,
            });
            self.labels.push(Label::new(
                tick_text(*v, sy),
                (p.x0 - 6.0, y + 4.0),
                Anchor::End,
                ink,
            ));
        }
        if !x_desc.is_empty() {
            self.labels.push(Label::new(
                x_desc,
                ((p.x0 + p.x1) / 2.0, p.y1 + 40.0),
                Anchor::Middle,
                ink,
            ));
        }
        if !y_desc.is_empty() {
            self.labels.push(Label {
                vertical: true,
                ..Label::new(y_desc, (16.0, (p.y0 + p.y1) / 2.0), Anchor::Middle, ink)
            });
        }
    }

    /// The model as an SVG element.
    pub fn svg(&self) -> Markup {
        let (w, h) = self.size;
        let p = self.plot;
        html! {
            svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) font-family="sans-serif" {
                rect x="0" y="0" width=(w) height=(h) fill="#ffffff" {}
                @for r in self.rules.iter().filter(|r| r.color == RGBColor(236, 236, 236)) { (rule(r)) }
                @for (b, c, o) in &self.boxes { rect x=(fx(b.x0)) y=(fx(b.y0)) width=(fx(b.x1 - b.x0)) height=(fx(b.y1 - b.y0)) fill=(hex(*c)) fill-opacity=(o) {} }
                rect x=(fx(p.x0)) y=(fx(p.y0)) width=(fx(p.x1 - p.x0)) height=(fx(p.y1 - p.y0)) fill="none" stroke="#888888" {}
                @for s in &self.series {
                    @if s.dots {
                        @for q in &s.points { circle cx=(fx(q.0)) cy=(fx(q.1)) r="2.5" fill=(hex(s.color)) fill-opacity="0.75" {} }
                    } @else {
                        polyline fill="none" stroke=(hex(s.color)) stroke-width="2" points=(s.points.iter().map(|q| format!("{},{}", fx(q.0), fx(q.1))).collect::<Vec<_>>().join(" ")) {}
                    }
                }
                @for r in self.rules.iter().filter(|r| r.color != RGBColor(236, 236, 236)) { (rule(r)) }
                @if let Some(b) = self.legend {
                    rect x=(fx(b.x0)) y=(fx(b.y0)) width=(fx(b.x1 - b.x0)) height=(fx(b.y1 - b.y0)) fill="#fafafa" stroke="#dddddd" {}
                }
                @for (c, l) in &self.legend_entries { rect x=(fx(l.x - 22.0)) y=(fx(l.y - 9.0)) width="16" height="9" fill=(hex(*c)) {} (text(l)) }
                @for l in &self.labels { (text(l)) }
            }
        }
    }
}

/// A coordinate with at most one decimal (stable, short output).
fn fx(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `#rrggbb`.
fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A rule as an SVG line.
fn rule(r: &Rule) -> Markup {
    html! {
        line x1=(fx(r.from.0)) y1=(fx(r.from.1)) x2=(fx(r.to.0)) y2=(fx(r.to.1)) stroke=(hex(r.color))
            stroke-width=(if r.dashed || r.color == RGBColor(236, 236, 236) { "1" } else { "2" })
            stroke-dasharray=[r.dashed.then_some("6 4")] {}
    }
}

/// A label as an SVG text (maud escapes the text).
fn text(l: &Label) -> Markup {
    let anchor = match l.anchor {
        Anchor::Start => "start",
        Anchor::Middle => "middle",
        Anchor::End => "end",
    };
    let rotate = l
        .vertical
        .then(|| format!("rotate(-90 {} {})", fx(l.x), fx(l.y)));
    html! {
        text x=(fx(l.x)) y=(fx(l.y)) font-size=(l.size) fill=(hex(l.color)) text-anchor=(anchor) transform=[rotate] { (l.text) }
    }
}

/// A bar chart of one value per category (e.g. throughput per tier), value on each bar.
pub fn bars(
    title: &str,
    y_desc: &str,
    bars: &[(String, f64)],
    color: Rgb,
) -> Result<Markup, String> {
    Ok(bars_model(title, y_desc, bars, color)?.svg())
}

/// The bar chart's model.
pub fn bars_model(
    title: &str,
    y_desc: &str,
    bars: &[(String, f64)],
    color: Rgb,
) -> Result<Model, String> {
    let (_, hi) = min_max(bars.iter().map(|b| b.1)).ok_or("no bar to draw")?;
    // Head room for the value written above the tallest bar.
    let (y0, y1, yt) = axis(0.0, hi * 1.12, true, 5.0);
    let top = 40.0;
    let plot = Rect {
        x0: LEFT,
        y0: top,
        x1: WIDTH - RIGHT_BARE,
        y1: top + PLOT_H,
    };
    let ys = Scale {
        lo: y0,
        hi: y1,
        px0: plot.y1,
        px1: plot.y0,
    };
    let xs = Scale {
        lo: 0.0,
        hi: bars.len() as f64,
        px0: plot.x0,
        px1: plot.x1,
    };
    let mut m = Model {
        size: (WIDTH, plot.y1 + 52.0),
        plot,
        legend: None,
        legend_entries: Vec::new(),
        series: Vec::new(),
        boxes: Vec::new(),
        rules: Vec::new(),
        ticks: (Vec::new(), yt),
        labels: vec![Label {
            size: TITLE_PX,
            ..Label::new(
                title,
                (WIDTH / 2.0, 20.0),
                Anchor::Middle,
                RGBColor(20, 20, 20),
            )
        }],
    };
    m.axes(&xs, &ys, "", y_desc);
    let ink = RGBColor(30, 30, 30);
    for (i, (name, v)) in bars.iter().enumerate() {
        let (a, b) = (xs.px(i as f64 + 0.2), xs.px(i as f64 + 0.8));
        m.boxes.push((
            Rect {
                x0: a,
                y0: ys.px(*v),
                x1: b,
                y1: plot.y1,
            },
            color,
            1.0,
        ));
        m.labels.push(Label::new(
            format!("{v:.1}"),
            ((a + b) / 2.0, ys.px(*v) - 5.0),
            Anchor::Middle,
            ink,
        ));
        m.labels.push(Label::new(
            name.clone(),
            ((a + b) / 2.0, plot.y1 + 20.0),
            Anchor::Middle,
            ink,
        ));
    }
    Ok(m)
}

/// One lane of a timeline: labelled intervals and instants on a shared x axis.
pub struct Lane {
    /// Lane label (left of the lane).
    pub label: String,
    /// `(from, to, colour)` intervals.
    pub spans: Vec<(f64, f64, Rgb)>,
    /// `(at, colour)` instants, drawn as ticks.
    pub ticks: Vec<(f64, Rgb)>,
}

/// plotters' error, as text.
fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("chart drawing failed: {e:?}")
}

/// A timeline: one lane per row, x in seconds. Its legend is drawn by the page
/// ([`legend_html`]), outside the plot, so it can never hide an event.
pub fn timeline(title: &str, x_desc: &str, lanes: &[Lane]) -> Result<Markup, String> {
    let xs = lanes.iter().flat_map(|l| {
        l.spans
            .iter()
            .flat_map(|s| [s.0, s.1])
            .chain(l.ticks.iter().map(|t| t.0))
            .collect::<Vec<_>>()
    });
    let (lo, hi) = min_max(xs).unwrap_or((0.0, 1.0));
    let (xlo, xhi, xt) = axis(lo, hi, false, 10.0);
    let step = if xt.len() > 1 { xt[1] - xt[0] } else { 1.0 };
    let rows = lanes.len().max(1) as f64;
    let mut buf = String::new();
    {
        let height = 90 + 46 * lanes.len() as u32;
        let root = SVGBackend::with_string(&mut buf, (WIDTH as u32, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let names: Vec<String> = lanes.iter().map(|l| l.label.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(190)
            .build_cartesian_2d(xlo..xhi, 0f64..rows)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(xt.len())
            .x_label_formatter(&|x| tick_text(*x, step))
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
    // plotters escapes every text it writes.
    Ok(PreEscaped(buf))
}

/// A legend as HTML: a coloured square and a label per entry.
pub fn legend_html(entries: &[(&str, Rgb)]) -> Markup {
    html! {
        p {
            @for (label, c) in entries {
                span.key { span.swatch style=(format!("background:{}", hex(*c))) {} (label) } " "
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every chart must satisfy, checked on its model.
    pub(crate) fn assert_honest(m: &Model) {
        for s in &m.series {
            for q in &s.points {
                assert!(
                    m.plot.contains(*q),
                    "point {q:?} outside the plot {:?}",
                    m.plot
                );
                if let Some(l) = m.legend {
                    assert!(!l.contains(*q), "the legend {l:?} covers point {q:?}");
                }
            }
        }
        if let Some(l) = m.legend {
            assert!(
                !l.overlaps(&m.plot),
                "the legend {l:?} is inside the plot {:?}",
                m.plot
            );
        }
        let mut boxes: Vec<(String, Rect)> = m
            .labels
            .iter()
            .map(|l| (l.text.clone(), l.bbox()))
            .collect();
        boxes.extend(
            m.legend_entries
                .iter()
                .map(|(_, l)| (l.text.clone(), l.bbox())),
        );
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!a.1.overlaps(&b.1), "labels overlap: {:?} and {:?}", a, b);
            }
        }
        for b in &boxes {
            assert!(
                b.1.x0 >= 0.0 && b.1.x1 <= m.size.0 && b.1.y0 >= 0.0 && b.1.y1 <= m.size.1,
                "label outside the chart: {b:?}"
            );
        }
        for t in [&m.ticks.0, &m.ticks.1] {
            let step = if t.len() > 1 { t[1] - t[0] } else { 1.0 };
            for v in t.iter().filter(|_| step.fract() == 0.0) {
                let shown = tick_text(*v, step);
                assert!(!shown.contains('.'), "integer tick {v} shown as {shown}");
                assert!(
                    m.labels.iter().any(|l| l.text == shown),
                    "tick {shown} not drawn"
                );
            }
        }
    }

    fn line(points: Vec<(f64, f64)>) -> Series {
        Series {
            label: "p99".into(),
            color: PALETTE[0],
            points,
            dots: false,
        }
    }

    #[test]
    fn a_threshold_far_above_the_data_is_marked_at_the_edge_not_fitted() {
        let chart = LineChart {
            title: "p99".into(),
            x_desc: "simulated soak days".into(),
            y_desc: "ms".into(),
            series: vec![line(
                (0..48)
                    .map(|i| (i as f64 / 48.0, 1.0 + (i % 24) as f64))
                    .collect(),
            )],
            hlines: vec![Marker {
                at: 500.0,
                label: "limit 500 ms".into(),
                color: BAD,
            }],
            ..LineChart::default()
        };
        let m = chart.model().unwrap();
        assert_honest(&m);
        assert!(
            *m.ticks.1.last().unwrap() <= 30.0,
            "the y axis fits the data: {:?}",
            m.ticks.1
        );
        let edge = m
            .labels
            .iter()
            .find(|l| l.text.contains("limit 500 ms"))
            .unwrap();
        assert!(edge.text.starts_with('\u{25b2}'), "{edge:?}");
        assert!(
            (edge.y - 4.0 - m.plot.y0).abs() < 1e-6,
            "at the top edge: {edge:?}"
        );
        assert!(
            edge.bbox().x0 >= m.plot.x1,
            "the threshold's label is outside the plot"
        );
    }

    #[test]
    fn events_close_together_get_labels_that_do_not_overlap() {
        let marks = (0..4).map(|i| Marker {
            at: 0.2 + i as f64 * 0.01,
            label: format!("ALERT stuck_plans round {i}"),
            color: BAD,
        });
        let chart = LineChart {
            title: "t".into(),
            series: vec![
                line(vec![(0.0, 1.0), (1.0, 2.0)]),
                Series {
                    label: "second".into(),
                    ..line(vec![(0.5, 1.5)])
                },
            ],
            vlines: marks.collect(),
            hlines: vec![
                Marker {
                    at: 1.9,
                    label: "a".into(),
                    color: BAD,
                },
                Marker {
                    at: 1.91,
                    label: "b".into(),
                    color: BAD,
                },
            ],
            ..LineChart::default()
        };
        let m = chart.model().unwrap();
        assert_honest(&m);
        // Each event line is at its own x.
        let xs: Vec<f64> = m
            .rules
            .iter()
            .filter(|r| r.color == BAD && !r.dashed)
            .map(|r| r.from.0)
            .collect();
        assert_eq!(xs.len(), 4);
        assert!(xs.windows(2).all(|w| w[1] > w[0]), "{xs:?}");
    }

    #[test]
    fn integer_axes_have_integer_ticks_and_fractions_keep_their_decimals() {
        assert_eq!(tick_text(7000.0, 1000.0), "7000");
        assert_eq!(tick_text(0.25, 0.05), "0.25");
        assert_eq!(tick_text(99.5, 0.1), "99.5");
        let m = LineChart {
            series: vec![line(vec![(0.0, 6000.0), (10.0, 7400.0)])],
            ..LineChart::default()
        }
        .model()
        .unwrap();
        assert_honest(&m);
        assert!(m.labels.iter().any(|l| l.text == "7000"), "{:?}", m.labels);
        assert!(
            !m.labels.iter().any(|l| l.text.ends_with(".0")),
            "{:?}",
            m.labels
        );
    }

    #[test]
    fn the_checks_on_the_model_can_fail() {
        let mut m = LineChart {
            series: vec![line(vec![(0.0, 1.0), (1.0, 2.0)])],
            ..LineChart::default()
        }
        .model()
        .unwrap();
        let mut outside = m.clone();
        outside.series[0].points.push((0.0, 0.0));
        assert!(
            std::panic::catch_unwind(|| assert_honest(&outside)).is_err(),
            "a point outside the plot"
        );
        let l = m
            .labels
            .iter()
            .find(|l| !l.text.is_empty())
            .unwrap()
            .clone();
        m.labels.push(l);
        assert!(
            std::panic::catch_unwind(|| assert_honest(&m)).is_err(),
            "two labels on top of each other"
        );
    }

    #[test]
    fn bars_fit_and_carry_their_values() {
        let m = bars_model(
            "t",
            "plans/s",
            &[("N=1".into(), 150.0), ("N=100".into(), 7000.0)],
            PALETTE[0],
        )
        .unwrap();
        assert_honest(&m);
        for (b, _, _) in &m.boxes {
            assert!(m.plot.contains((b.x0, b.y0)) && m.plot.contains((b.x1, b.y1)));
        }
        assert!(
            m.labels.iter().any(|l| l.text == "7000.0"),
            "the bar's value keeps its decimal"
        );
    }

    #[test]
    fn text_in_the_svg_is_escaped() {
        let chart = LineChart {
            title: "<script>".into(),
            series: vec![line(vec![(0.0, 1.0)])],
            ..LineChart::default()
        };
        let svg = chart.svg().unwrap().into_string();
        assert!(
            svg.contains("&lt;script&gt;") && !svg.contains("<script>"),
            "{svg}"
        );
    }
}
