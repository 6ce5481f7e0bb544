//! The results: one table for people, the same numbers as JSON for tools.

use std::{fmt::Write as _, path::Path, process::Command, time::Duration};

use crate::load::Measured;

/// One row of the table.
#[derive(Debug)]
pub(crate) struct ScenarioResult {
    pub(crate) name: &'static str,
    pub(crate) measured: Measured,
    /// The server's resident memory right after the scenario, in KiB.
    pub(crate) rss_kib: Option<u64>,
    /// CPU time the server used during the scenario.
    pub(crate) server_cpu: Option<Duration>,
    /// Whether this row's requests were the only ones the server served
    /// meanwhile, so that its CPU time can be divided by them.
    pub(crate) server_to_itself: bool,
}

impl ScenarioResult {
    /// Cores the server kept busy on average.
    fn server_cores(&self) -> Option<f64> {
        let seconds = self.measured.elapsed.as_secs_f64();
        self.server_cpu
            .filter(|_| seconds > 0.0)
            .map(|cpu| cpu.as_secs_f64() / seconds)
    }

    /// Server CPU time per request, in microseconds.
    fn server_micros_per_request(&self) -> Option<f64> {
        let requests = self.measured.requests();
        self.server_cpu
            .filter(|_| self.server_to_itself && requests > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / requests as f64)
    }
}

/// Everything the run measured and the settings it ran with.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) results: Vec<ScenarioResult>,
    /// Untimed-scenario steps (seeding, warm-up…) and how long they took.
    pub(crate) preparation: Vec<(String, Duration)>,
    pub(crate) peak_rss_kib: Option<u64>,
    pub(crate) settings: Vec<(&'static str, String)>,
    /// WARN/ERROR lines the server logged, and the last few of them.
    pub(crate) server_warnings: u64,
    pub(crate) last_server_warnings: Vec<String>,
    /// What a scenario found beyond its rates, one sentence each.
    pub(crate) findings: Vec<String>,
}

impl Report {
    fn rate_of(&self, name: &str) -> Option<f64> {
        self.results
            .iter()
            .find(|result| result.name == name)
            .map(|result| result.measured.per_second())
            .filter(|rate| *rate > 0.0)
    }

    /// The flooded verifiers' throughput as a share of the unflooded one.
    pub(crate) fn flood_ratio(&self) -> Option<f64> {
        self.ratio("flooded-warm-verify", "warm-verify")
    }

    /// Scenario `name`'s rate over scenario `base`'s.
    pub(crate) fn ratio(&self, name: &str, base: &str) -> Option<f64> {
        Some(self.rate_of(name)? / self.rate_of(base)?)
    }

    /// The table, the outcome mixes that are not all as expected, and the
    /// settings.
    pub(crate) fn to_text(&self) -> String {
        let health = self.rate_of("health");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>9} {:>10}",
            "scenario",
            "requests",
            "req/s",
            "ok/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "max µs",
            "errors",
            "×health",
            "RSS MiB",
            "srv cores",
            "srv µs/req"
        );
        for result in &self.results {
            let m = &result.measured;
            let h = &m.latencies;
            let ratio = health.map_or_else(
                || "-".to_owned(),
                |health| format!("{:.3}", m.per_second() / health),
            );
            let rss = result
                .rss_kib
                .map_or_else(|| "-".to_owned(), |kib| format!("{:.1}", mib(kib)));
            let cores = result
                .server_cores()
                .map_or_else(|| "-".to_owned(), |cores| format!("{cores:.2}"));
            let cost = result
                .server_micros_per_request()
                .map_or_else(|| "-".to_owned(), |micros| format!("{micros:.1}"));
            let _ = writeln!(
                out,
                "{:<20} {:>9} {:>10.1} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>9} {:>10}",
                result.name,
                m.requests(),
                m.per_second(),
                m.ok_per_second(),
                h.value_at_quantile(0.50),
                h.value_at_quantile(0.90),
                h.value_at_quantile(0.99),
                h.max(),
                m.errors,
                ratio,
                rss,
                cores,
                cost
            );
        }
        let mixes: Vec<&ScenarioResult> = self
            .results
            .iter()
            .filter(|r| r.measured.errors > 0 || r.measured.outcomes.len() > 1)
            .collect();
        if !mixes.is_empty() {
            let _ = writeln!(out, "\noutcomes:");
            for result in mixes {
                let _ = writeln!(out, "  {:<20} {}", result.name, mix(&result.measured));
            }
        }
        if let Some(ratio) = self.flood_ratio() {
            let _ = writeln!(
                out,
                "\nflooded-warm-verify ran at {ratio:.3} × the unflooded warm-verify rate"
            );
        }
        for finding in &self.findings {
            let _ = writeln!(out, "{finding}");
        }
        let _ = writeln!(out);
        for (step, took) in &self.preparation {
            let _ = writeln!(out, "{step}: {:.2} s", took.as_secs_f64());
        }
        let peak = self.peak_rss_kib.map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} MiB", mib(kib)),
        );
        let _ = writeln!(out, "server peak RSS (VmHWM): {peak}");
        let _ = writeln!(out, "server log: {} WARN/ERROR lines", self.server_warnings);
        for line in &self.last_server_warnings {
            let _ = writeln!(out, "  {line}");
        }
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let _ = writeln!(out, "{}", settings.join(" "));
        out
    }

    /// The same numbers as [`Report::to_text`], as one JSON object.
    pub(crate) fn to_json(&self) -> String {
        let health = self.rate_of("health");
        let mut out = String::from("{\n  \"settings\": {");
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(name, value)| format!("{}: {}", quote(name), quote(value)))
            .collect();
        out.push_str(&settings.join(", "));
        out.push_str("},\n  \"preparation_seconds\": {");
        let steps: Vec<String> = self
            .preparation
            .iter()
            .map(|(step, took)| format!("{}: {:.3}", quote(step), took.as_secs_f64()))
            .collect();
        out.push_str(&steps.join(", "));
        let _ = write!(
            out,
            "}},\n  \"server_peak_rss_kib\": {},\n  \"server_warnings\": {},\n",
            optional(self.peak_rss_kib),
            self.server_warnings
        );
        let _ = write!(
            out,
            "  \"flooded_to_warm_ratio\": {},\n  \"scenarios\": [",
            self.flood_ratio()
                .map_or_else(|| "null".to_owned(), |ratio| format!("{ratio:.4}"))
        );
        for (i, result) in self.results.iter().enumerate() {
            let m = &result.measured;
            let h = &m.latencies;
            let outcomes: Vec<String> = m
                .outcomes
                .iter()
                .map(|(label, count)| format!("{}: {count}", quote(label)))
                .collect();
            let ratio = health.map_or_else(
                || "null".to_owned(),
                |health| format!("{:.4}", m.per_second() / health),
            );
            let _ = write!(
                out,
                "{}\n    {{\"name\": {}, \"requests\": {}, \"seconds\": {:.3}, \"per_second\": {:.1}, \"ok_per_second\": {:.1}, \
                 \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"max_us\": {}, \"mean_us\": {:.1}, \
                 \"errors\": {}, \"ratio_to_health\": {}, \"rss_kib_after\": {}, \
                 \"server_cores\": {}, \"server_cpu_us_per_request\": {}, \"outcomes\": {{{}}}}}",
                if i == 0 { "" } else { "," },
                quote(result.name),
                m.requests(),
                m.elapsed.as_secs_f64(),
                m.per_second(),
                m.ok_per_second(),
                h.value_at_quantile(0.50),
                h.value_at_quantile(0.90),
                h.value_at_quantile(0.99),
                h.max(),
                h.mean(),
                m.errors,
                ratio,
                optional(result.rss_kib),
                optional_float(result.server_cores(), 3),
                optional_float(result.server_micros_per_request(), 1),
                outcomes.join(", ")
            );
        }
        out.push_str("\n  ],\n  \"findings\": [");
        let findings: Vec<String> = self.findings.iter().map(|f| quote(f)).collect();
        out.push_str(&findings.join(", "));
        out.push_str("]\n}\n");
        out
    }
}

/// "LABEL count (share%)" for each outcome, most frequent first.
fn mix(measured: &Measured) -> String {
    let total = measured.requests().max(1) as f64;
    let mut outcomes: Vec<(&&str, &u64)> = measured.outcomes.iter().collect();
    outcomes.sort_by(|a, b| b.1.cmp(a.1));
    outcomes
        .iter()
        .map(|(label, count)| format!("{label} {count} ({:.1}%)", **count as f64 * 100.0 / total))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn optional_float(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "null".to_owned(), |value| format!("{value:.decimals$}"))
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |value| value.to_string())
}

/// A JSON string. The values written here are names, labels and numbers
/// made by this program, so escaping quotes, backslashes and control
/// characters is all JSON asks for.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The commit the benchmarked source is at, `+dirty` when tracked files
/// differ from it, so that numbers can be traced to code.
pub(crate) fn git_commit() -> Option<String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = if source.is_dir() {
        source.to_path_buf()
    } else {
        std::env::current_dir().ok()?
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_json_strings() {
        assert_eq!(quote("warm-verify"), "\"warm-verify\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
