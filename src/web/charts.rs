//! Charts drawn on the server as inline SVG, so they show without JavaScript and within the
//! site's CSP (no script, no style attribute: colours are presentation attributes, which the
//! stylesheet may override, e.g. in dark mode). Each chart is an image with a name and a
//! description that states every figure, for screen readers; each bar's figure is also its
//! tooltip.

use std::fmt::Write;

const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 28.0;
const FONT: f64 = 12.0;

use crate::mail::sanitize::escape_markup as escape;

/// An id for the chart's title and description, from its title (a page's charts have
/// different titles).
fn id_of(title: &str) -> String {
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("chart-{}", slug.trim_matches('-'))
}

/// A step of 1, 2 or 5 times a power of ten giving about four ticks up to `max`; counts are
/// whole, so never below 1.
fn tick_step(max: u64) -> u64 {
    let rough = (max as f64 / 4.0).max(1.0);
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    (step as u64).max(1)
}

/// Shortens a label to about `chars` characters, with an ellipsis.
fn shorten(label: &str, chars: usize) -> String {
    if label.chars().count() <= chars {
        label.to_owned()
    } else {
        let kept: String = label.chars().take(chars.saturating_sub(1).max(1)).collect();
        format!("{}…", kept.trim_end())
    }
}

/// A vertical bar chart of counts, one bar per `(label, value)`, in a `width` × `height` box
/// (it scales down with the page). Labels under the bars are thinned out when there are many
/// (every bar keeps its label in its tooltip and in the description).
pub fn bar_chart(title: &str, bars: &[(String, u64)], width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width), f64::from(height));
    let plot_w = (w - LEFT - RIGHT).max(1.0);
    let plot_h = (h - TOP - BOTTOM).max(1.0);
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0);
    let step = tick_step(max);
    let top = max.div_ceil(step).max(1) * step;
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let id = id_of(title);

    let desc = if bars.is_empty() {
        "No data.".to_owned()
    } else {
        bars.iter()
            .map(|(l, v)| format!("{l}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" role=\"img\" aria-labelledby=\"{id}-title\" \
         aria-describedby=\"{id}-desc\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" font-size=\"{FONT}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(&desc)
    );

    // Grid lines and the axis' figures.
    let mut tick = 0;
    while tick <= top {
        let ty = y(tick);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" \
             stroke=\"#d0d0d0\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" \
             text-anchor=\"end\" fill=\"#4a4a4a\">{tick}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            ty + FONT / 3.0
        );
        tick += step;
    }

    if bars.is_empty() || max == 0 {
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
             fill=\"#4a4a4a\">No posts in this period</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }

    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.72).max(1.0);
    // About eight labels fit under any chart; a label gets as many characters as its slot
    // (times the thinning) has room for.
    let every = bars.len().div_ceil(8).max(1);
    let room = ((slot * every as f64) / (FONT * 0.6)).floor().max(3.0) as usize;
    let show_values = bars.len() <= 16;
    for (i, (label, value)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let by = y(*value);
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{by:.1}\" width=\"{bar_w:.1}\" \
             height=\"{:.1}\" fill=\"#005eb8\"><title>{}: {value}</title></rect>",
            TOP + plot_h - by,
            escape(label)
        );
        let cx = x + bar_w / 2.0;
        if show_values && *value > 0 {
            let _ = write!(
                svg,
                "<text class=\"value\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 fill=\"#1b1b1b\">{value}</text>",
                by - 4.0
            );
        }
        // Counted from the end, so the last bar (today, this week) is always labelled.
        if (bars.len() - 1 - i).is_multiple_of(every) {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 fill=\"#4a4a4a\">{}</text>",
                h - BOTTOM + FONT + 6.0,
                escape(&shorten(label, room))
            );
        }
    }
    let _ = write!(
        svg,
        "<line class=\"baseline\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" \
         stroke=\"#4a4a4a\"/></svg>",
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(values: &[u64]) -> Vec<(String, u64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("day {i}"), *v))
            .collect()
    }

    #[test]
    fn one_rect_with_a_tooltip_per_bar() {
        let svg = bar_chart("Posts per day", &bars(&[3, 0, 7, 12]), 600, 200);
        assert!(svg.starts_with("<svg class=\"chart\" role=\"img\""));
        assert_eq!(svg.matches("<rect ").count(), 4);
        assert!(svg.contains("<title>day 2: 7</title>"));
        assert!(svg.contains("<title id=\"chart-posts-per-day-title\">Posts per day</title>"));
        assert!(svg.contains("day 0: 3; day 1: 0; day 2: 7; day 3: 12</desc>"));
        // Ticks of 5 up to 15 for a largest bar of 12.
        for tick in [">0</text>", ">5</text>", ">10</text>", ">15</text>"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
        assert!(!svg.contains("style="), "the CSP allows no style attribute");
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let svg = bar_chart(
            "<Busy> & \"growing\"",
            &[("<script>alert('x')</script>".to_owned(), 1)],
            300,
            150,
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;: 1"));
        assert!(svg.contains("&lt;Busy&gt; &amp; &quot;growing&quot;</title>"));
    }

    #[test]
    fn zero_and_no_data_still_draw_an_axis() {
        let zeros = bar_chart("Quiet", &bars(&[0; 30]), 600, 200);
        assert_eq!(zeros.matches("<rect ").count(), 30);
        assert!(zeros.contains("No posts in this period"));
        assert!(!zeros.contains("NaN") && !zeros.contains("inf"));
        let empty = bar_chart("Nothing", &[], 600, 200);
        assert_eq!(empty.matches("<rect ").count(), 0);
        assert!(empty.contains("<desc id=\"chart-nothing-desc\">No data.</desc>"));
    }

    #[test]
    fn many_bars_are_labelled_sparsely() {
        let svg = bar_chart("Posts per day", &bars(&[1; 30]), 700, 200);
        let labels = svg.matches("class=\"axis\" x=").count() - svg.matches("end\"").count();
        assert!((4..=9).contains(&labels), "{labels} labels");
        assert!(
            !svg.contains("class=\"value\""),
            "no figures over thirty bars"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(0), 1);
        assert_eq!(tick_step(3), 1);
        assert_eq!(tick_step(12), 5);
        assert_eq!(tick_step(40), 10);
        assert_eq!(tick_step(1234), 500);
    }
}
