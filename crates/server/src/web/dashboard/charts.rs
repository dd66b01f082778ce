//! The time-series chart as server-rendered inline SVG: one stacked bar per bucket
//! (identified dark, estimated dark, other visits) and the visitors line, with a
//! `<title>` tooltip per bucket. Colours come from classes styled in `app.css`
//! (light and dark schemes); no inline styles.
//!
//! The SVG has no `viewBox`: every position is a percentage of its box, so the bars
//! stretch to any width while the text keeps its CSS size (11 px) instead of being
//! squashed with the plot on a phone. Y labels sit on their gridlines inside the plot;
//! every other x label (`alt`) is hidden on narrow screens.

use chrono::{NaiveDate, NaiveDateTime};
use lucarne_core::stats::{Aggregates, Interval};
use maud::{html, Markup};

use super::i18n::Lang;

/// The plot's top and bottom, in percent of the chart's height (the x labels below).
const TOP: f64 = 10.0;
const BOTTOM: f64 = 86.0;
/// The x labels' baseline, in percent of the height.
const LABEL_Y: f64 = 97.0;

/// One point of the chart.
pub struct Point<'a> {
    /// The bucket label from `core::stats::buckets` (`YYYY-MM-DD` or `YYYY-MM-DD HH:00:00`).
    pub label: &'a str,
    pub a: &'a Aggregates,
    /// When the bucket stands in time: a future one is drawn empty (no bar, no point of
    /// the visitors line), never as a zero; a running one is marked "so far".
    pub when: When,
    /// The site's annotations on the bucket's days: a mark above the bar, and the notes
    /// in its tooltip.
    pub notes: Vec<&'a str>,
}

/// A bucket against the present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Past,
    /// Now is inside it: its numbers are those so far.
    Running,
    Future,
}

impl When {
    pub fn of(
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> When {
        if start > now {
            When::Future
        } else if now < end {
            When::Running
        } else {
            When::Past
        }
    }
}

/// The y scale for a largest value `v`: a "nice" step (1, 2, 2.5 or 5 times a power of
/// ten, 2.5 only from 10 on so labels stay whole) and how many steps (1 to 5) reach the
/// first gridline at or above `v`. The smallest such step is taken, so the tallest bar
/// fills at least 60 % of the plot instead of leaving half of it empty.
pub fn scale(v: u64) -> (u64, u64) {
    let v = v.max(1);
    let mut p = 1u64;
    loop {
        for m in [10u64, 20, 25, 50] {
            if m == 25 && p == 1 {
                continue;
            }
            let step = p * m / 10;
            let steps = v.div_ceil(step);
            if steps <= 5 {
                return (step, steps.max(1));
            }
        }
        p = p.saturating_mul(10);
    }
}

fn label_text(lang: Lang, label: &str, interval: Interval, long: bool) -> String {
    match interval {
        Interval::Hour => match NaiveDateTime::parse_from_str(label, "%Y-%m-%d %H:%M:%S") {
            Ok(t) if long => format!("{} {}", lang.date(t.date()), t.format("%H:00")),
            Ok(t) => t.format("%H:00").to_string(),
            Err(_) => label.to_string(),
        },
        Interval::Date | Interval::Week => match NaiveDate::parse_from_str(label, "%Y-%m-%d") {
            Ok(d) if long => lang.date(d),
            Ok(d) => lang.day_month(d),
            Err(_) => label.to_string(),
        },
        Interval::Month => match NaiveDate::parse_from_str(label, "%Y-%m-%d") {
            Ok(d) => lang.month_year(d),
            Err(_) => label.to_string(),
        },
    }
}

/// A percentage coordinate.
pub fn pc(x: f64) -> String {
    format!("{:.2}%", x)
}

/// The geometry of a bar chart of `n` buckets whose largest value is `top`, in percent of
/// the SVG's box (shared by the overview chart and a link's clicks per day).
pub struct Frame {
    n: usize,
    step_y: u64,
    steps: u64,
}

impl Frame {
    pub fn new(n: usize, top: u64) -> Frame {
        let (step_y, steps) = scale(top);
        Frame {
            n: n.max(1),
            step_y,
            steps,
        }
    }

    /// The width of one bucket.
    pub fn step(&self) -> f64 {
        100.0 / self.n as f64
    }

    /// Bucket `i`'s left edge and centre.
    pub fn left(&self, i: usize) -> f64 {
        self.step() * i as f64
    }
    pub fn centre(&self, i: usize) -> f64 {
        self.step() * (i as f64 + 0.5)
    }

    /// A bar: 72 % of its bucket, centred.
    pub fn bar_w(&self) -> f64 {
        self.step() * 0.72
    }
    pub fn bar_x(&self, i: usize) -> f64 {
        self.left(i) + (self.step() - self.bar_w()) / 2.0
    }

    /// The height of value `v`.
    pub fn y(&self, v: u64) -> f64 {
        let ymax = (self.step_y * self.steps) as f64;
        TOP + (BOTTOM - TOP) * (1.0 - v as f64 / ymax)
    }

    /// A bucket's full-height hover target.
    pub fn hit(&self, i: usize) -> (String, String, String, String) {
        (pc(self.left(i)), pc(TOP), pc(self.step()), pc(BOTTOM - TOP))
    }

    fn ticks(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.steps).map(|i| self.step_y * i)
    }

    /// The gridlines (drawn first, under the bars).
    pub fn grid(&self) -> Markup {
        html! {
            g class="grid" {
                @for t in self.ticks() {
                    line x1="0" x2="100%" y1=(pc(self.y(t))) y2=(pc(self.y(t))) {}
                }
            }
        }
    }

    /// The y labels on their gridlines and the x labels of every `every`-th bucket
    /// (`label(i)`), drawn last, over the bars; alternate x labels are `alt` (hidden on
    /// narrow screens).
    pub fn labels(&self, lang: Lang, every: usize, label: impl Fn(usize) -> String) -> Markup {
        let every = every.max(1);
        html! {
            g class="ylabels" {
                @for t in self.ticks() {
                    text class="ylabel" x="2" y=(pc(self.y(t))) dy="-3" { (lang.int(t)) }
                }
            }
            g class="xlabels" {
                @for (k, i) in (0..self.n).filter(|i| i % every == 0).enumerate() {
                    @let first = i == 0;
                    text class=[(k % 2 == 1).then_some("alt")] x=(if first { "0".to_string() } else { pc(self.centre(i)) }) y=(pc(LABEL_Y))
                        text-anchor=(if first { "start" } else { "middle" }) {
                        (label(i))
                    }
                }
            }
        }
    }
}

pub fn chart(lang: Lang, points: &[Point<'_>], interval: Interval, title: &str) -> Markup {
    let top = points
        .iter()
        .map(|p| p.a.visits.max(p.a.visitors))
        .max()
        .unwrap_or(0);
    let fr = Frame::new(points.len(), top);
    // The visitors line as segments between buckets that have begun (a polyline's
    // points cannot be percentages).
    let begun: Vec<(usize, u64)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.when != When::Future)
        .map(|(i, p)| (i, p.a.visitors))
        .collect();
    html! {
        svg class="chart" role="img" aria-labelledby="chart-title" {
            title id="chart-title" { (title) }
            (fr.grid())
            @for (i, p) in points.iter().enumerate() {
                @let (x, w) = (pc(fr.bar_x(i)), pc(fr.bar_w()));
                @let ident = p.a.visits_identified_dark;
                @let est = p.a.visits_estimated_dark;
                @let other = p.a.visits.saturating_sub(ident + est);
                @let (hx, hy, hw, hh) = fr.hit(i);
                g class="pt" {
                    title {
                        (label_text(lang, p.label, interval, true))
                        @if p.when == When::Future {
                            "\n" (lang.t("chart_future"))
                        } @else {
                            @if p.when == When::Running { " (" (lang.t("chart_so_far")) ")" }
                            "\n"
                            (lang.t("visitors")) ": " (lang.int(p.a.visitors)) "\n"
                            (lang.t("visits")) ": " (lang.int(p.a.visits)) "\n"
                            (lang.t("identified")) ": " (lang.int(ident)) "\n"
                            (lang.t("estimated")) ": " (lang.int(est))
                        }
                        @for n in &p.notes { "\n✎ " (n) }
                    }
                    rect class="hit" data-when=[match p.when { When::Past => None, When::Running => Some("running"), When::Future => Some("future") }]
                        x=(hx) y=(hy) width=(hw) height=(hh) {}
                    @if ident > 0 {
                        rect class="s-ident" x=(x) y=(pc(fr.y(ident))) width=(w) height=(pc(fr.y(0) - fr.y(ident))) {}
                    }
                    @if est > 0 {
                        rect class="s-est" x=(x) y=(pc(fr.y(ident + est))) width=(w) height=(pc(fr.y(ident) - fr.y(ident + est))) {}
                    }
                    @if other > 0 {
                        rect class="s-other" x=(x) y=(pc(fr.y(p.a.visits))) width=(w) height=(pc(fr.y(ident + est) - fr.y(p.a.visits))) {}
                    }
                    @if !p.notes.is_empty() {
                        line class="note-mark" x1=(pc(fr.centre(i))) x2=(pc(fr.centre(i))) y1=(pc(TOP - 6.0)) y2=(pc(BOTTOM)) {}
                        circle class="note-mark" cx=(pc(fr.centre(i))) cy=(pc(TOP - 6.0)) r="3.5" {}
                    }
                }
            }
            g class="visitors-line" {
                @for s in begun.windows(2) {
                    line x1=(pc(fr.centre(s[0].0))) y1=(pc(fr.y(s[0].1))) x2=(pc(fr.centre(s[1].0))) y2=(pc(fr.y(s[1].1))) {}
                }
                @if let [(i, v)] = begun.as_slice() {
                    circle cx=(pc(fr.centre(*i))) cy=(pc(fr.y(*v))) r="2.5" {}
                }
            }
            (fr.labels(lang, points.len().div_ceil(7), |i| points.get(i).map(|p| label_text(lang, p.label, interval, false)).unwrap_or_default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_nice_and_fill_the_plot() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(4), (1, 4));
        assert_eq!(scale(5), (1, 5));
        assert_eq!(scale(8), (2, 4));
        assert_eq!(scale(13), (5, 3));
        assert_eq!(scale(101), (25, 5));
        assert_eq!(scale(230), (50, 5));
        assert_eq!(scale(4000), (1000, 4));
        assert_eq!(scale(4001), (1000, 5));
        for v in 1..20_000u64 {
            let (step, steps) = scale(v);
            let top = step * steps;
            assert!(top >= v, "{v}: the scale reaches the value");
            assert!(
                v as f64 / top as f64 >= 0.6,
                "{v}: {step}×{steps} leaves the plot too empty"
            );
            let mut lead = if step < 10 { step * 10 } else { step };
            while lead >= 100 {
                lead /= 10;
            }
            assert!([10, 20, 25, 50].contains(&lead), "{v}: step {step}");
        }
    }

    #[test]
    fn one_group_with_a_tooltip_per_bucket() {
        let a = Aggregates {
            visitors: 3,
            visits: 4,
            visits_identified_dark: 1,
            visits_estimated_dark: 1,
            ..Default::default()
        };
        let pts = [
            Point {
                label: "2026-11-01",
                a: &a,
                when: When::Past,
                notes: vec![],
            },
            Point {
                label: "2026-11-02",
                a: &a,
                when: When::Past,
                notes: vec![],
            },
        ];
        let svg = chart(Lang::En, &pts, Interval::Date, "t").into_string();
        assert_eq!(svg.matches("<g class=\"pt\">").count(), 2);
        assert!(svg.contains("Nov 1, 2026"));
        assert!(!svg.contains("style="));
        // No viewBox: positions are percentages, text keeps its CSS size at any width.
        assert!(!svg.contains("viewBox"));
        assert!(
            svg.contains("width=\"36.00%\""),
            "two buckets, bars 72 % of 50 %"
        );
    }

    #[test]
    fn future_buckets_are_empty_and_the_running_one_says_so_far() {
        let a = Aggregates {
            visitors: 2,
            visits: 2,
            ..Default::default()
        };
        let zero = Aggregates::default();
        let pts = [
            Point {
                label: "2026-12-06 09:00:00",
                a: &a,
                when: When::Past,
                notes: vec![],
            },
            Point {
                label: "2026-12-06 10:00:00",
                a: &a,
                when: When::Running,
                notes: vec!["Launch"],
            },
            Point {
                label: "2026-12-06 11:00:00",
                a: &zero,
                when: When::Future,
                notes: vec![],
            },
        ];
        let svg = chart(Lang::En, &pts, Interval::Hour, "t").into_string();
        assert!(svg.contains("data-when=\"running\""));
        assert!(svg.contains("(so far)"));
        // One annotated bucket: one mark (a line and a dot), the note in its tooltip.
        assert_eq!(svg.matches("<circle class=\"note-mark\"").count(), 1);
        let running = &svg[svg.find("data-when=\"running\"").expect("running")..];
        assert!(running.contains("class=\"note-mark\""), "{running}");
        assert!(svg.contains("✎ Launch"));
        let future = &svg[svg.rfind("<g class=\"pt\">").expect("future bucket")..];
        assert!(future.contains("data-when=\"future\""));
        let future = &future[..future.find("</g>").unwrap_or(future.len())];
        assert!(future.contains("not yet"), "{future}");
        assert!(!future.contains("class=\"s-"), "no bar in a future bucket");
        // The visitors line joins the two buckets that have begun, not a zero for the
        // third: one segment.
        let line = &svg[svg.find("<g class=\"visitors-line\">").expect("line")..];
        let line = &line[..line.find("</g>").unwrap_or(line.len())];
        assert_eq!(line.matches("<line ").count(), 1, "{line}");
        assert_eq!(
            When::of(
                "2026-12-06T10:00:00Z".parse().unwrap_or_default(),
                "2026-12-06T11:00:00Z".parse().unwrap_or_default(),
                "2026-12-06T10:30:00Z".parse().unwrap_or_default(),
            ),
            When::Running
        );
    }
}
