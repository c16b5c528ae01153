//! Minimal SVG charts for the training report: line, scatter and step-histogram series on linear
//! axes. Hand-written instead of plotters: what the report draws is a few hundred lines of SVG,
//! and plotters' dependency tree (fonts, image backends) would cost more to build than this.

use std::fmt::Write;

const W: f64 = 420.0;
const H: f64 = 300.0;
const L: f64 = 52.0; // left margin
const B: f64 = 40.0; // bottom margin
const T: f64 = 28.0; // top margin
const R: f64 = 14.0; // right margin

/// Colors of successive series.
pub const PALETTE: [&str; 6] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

enum Series {
    Line { points: Vec<(f64, f64)>, color: String, label: String, dashed: bool },
    Points { points: Vec<(f64, f64)>, color: String, label: String },
}

/// A chart with linear x and y axes.
pub struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x: (f64, f64),
    y: (f64, f64),
    series: Vec<Series>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Chart {
        let widen = |(a, b): (f64, f64)| if (b - a).abs() < 1e-12 { (a - 0.5, b + 0.5) } else { (a, b) };
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x: widen(x),
            y: widen(y),
            series: vec![],
        }
    }

    pub fn line(mut self, points: Vec<(f64, f64)>, color: &str, label: &str) -> Self {
        self.series.push(Series::Line { points, color: color.into(), label: label.into(), dashed: false });
        self
    }

    pub fn dashed(mut self, points: Vec<(f64, f64)>, color: &str, label: &str) -> Self {
        self.series.push(Series::Line { points, color: color.into(), label: label.into(), dashed: true });
        self
    }

    pub fn points(mut self, points: Vec<(f64, f64)>, color: &str, label: &str) -> Self {
        self.series.push(Series::Points { points, color: color.into(), label: label.into() });
        self
    }

    fn px(&self, x: f64) -> f64 {
        L + (x - self.x.0) / (self.x.1 - self.x.0) * (W - L - R)
    }

    fn py(&self, y: f64) -> f64 {
        H - B - (y - self.y.0) / (self.y.1 - self.y.0) * (H - B - T)
    }

    /// Renders the chart as an inline `<svg>` element.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
            W / 2.0,
            esc(&self.title)
        );
        let _ = write!(
            s,
            r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            W - L - R,
            H - B - T
        );
        for i in 0..=4 {
            let f = i as f64 / 4.0;
            let (xv, yv) = (self.x.0 + f * (self.x.1 - self.x.0), self.y.0 + f * (self.y.1 - self.y.0));
            let (x, y) = (self.px(xv), self.py(yv));
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                T,
                H - B,
                H - B + 14.0,
                tick(xv)
            );
            let _ = write!(
                s,
                r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - R,
                L - 4.0,
                y + 4.0,
                tick(yv)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (L + W - R) / 2.0,
            H - 6.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text transform="translate(12 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (T + H - B) / 2.0,
            esc(&self.y_label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let (color, label) = match series {
                Series::Line { points, color, label, dashed } => {
                    let d: Vec<String> =
                        points.iter().map(|(x, y)| format!("{:.1},{:.1}", self.px(*x), self.py(*y))).collect();
                    let dash = if *dashed { r#" stroke-dasharray="4 3""# } else { "" };
                    let _ = write!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>"#,
                        d.join(" ")
                    );
                    (color, label)
                }
                Series::Points { points, color, label } => {
                    for (x, y) in points {
                        let _ = write!(
                            s,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="1.8" fill="{color}" fill-opacity="0.5"/>"#,
                            self.px(*x),
                            self.py(*y)
                        );
                    }
                    (color, label)
                }
            };
            if !label.is_empty() {
                let y = T + 14.0 + 14.0 * i as f64;
                let _ = write!(
                    s,
                    r#"<rect x="{}" y="{}" width="10" height="3" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                    L + 8.0,
                    y - 4.0,
                    L + 22.0,
                    y,
                    esc(label)
                );
            }
        }
        s.push_str("</svg>");
        s
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 1000.0 || (v != 0.0 && v.abs() < 0.01) {
        format!("{v:.1e}")
    } else {
        format!("{:.2}", v).trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Histogram counts of `values` in `bins` equal bins over `range`, as a step line.
pub fn histogram(values: &[f64], range: (f64, f64), bins: usize) -> Vec<(f64, f64)> {
    let mut counts = vec![0usize; bins];
    let width = (range.1 - range.0) / bins as f64;
    for v in values {
        let b = (((v - range.0) / width) as isize).clamp(0, bins as isize - 1) as usize;
        counts[b] += 1;
    }
    let mut pts = vec![(range.0, 0.0)];
    for (i, c) in counts.iter().enumerate() {
        let x0 = range.0 + i as f64 * width;
        pts.push((x0, *c as f64));
        pts.push((x0 + width, *c as f64));
    }
    pts.push((range.1, 0.0));
    pts
}
