//! What a recording mostly sounds like, from its sound events: one entry per class, ranked by
//! how long the class is heard times how sure the model was, so a sound that lasts outranks a
//! brief loud one. Silence is not a sound and is left out. A class is left out in favour of the
//! more specific classes below it in the AudioSet ontology (Dog over Animal and "Domestic
//! animals, pets") when those cover at least half of the time it is heard.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Serialize;

/// Classes that say nothing about what is heard.
const NOT_SOUNDS: [&str; 1] = ["Silence"];
/// Share of a class's time its descendants must cover for it to give way to them.
const COVERED_BY_DESCENDANTS: f64 = 0.5;

/// The YAMNet classes above each class in the AudioSet ontology (see the file's header).
static ANCESTORS_TSV: &str = include_str!("../../models/audioset-ancestors.tsv");

/// One sound event as the summary needs it.
#[derive(Debug, Clone, Copy)]
pub struct Heard<'a> {
    pub name: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub score: f64,
}

/// One class in a file's sound summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoundSummary {
    pub name: String,
    /// How long the class is heard in all, overlaps counted once.
    pub duration_ms: i64,
    /// The highest score of any of its events.
    pub peak: f64,
    /// What the ranking sorts by: seconds heard times the duration-weighted mean score.
    pub weight: f64,
}

/// The classes above `name` in the ontology (empty for a top class or an unknown name).
pub fn ancestors(name: &str) -> &'static [&'static str] {
    static TABLE: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            ANCESTORS_TSV
                .lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| line.split_once('\t'))
                .map(|(class, above)| (class, above.split('|').collect()))
                .collect()
        })
        .get(name)
        .map_or(&[], Vec::as_slice)
}

/// A class's events merged into disjoint time spans, with its score statistics.
struct Class<'a> {
    name: &'a str,
    spans: Vec<(i64, i64)>,
    peak: f64,
    /// Sum of score x event length, for the duration-weighted mean.
    weighted_score: f64,
    event_ms: i64,
}

impl Class<'_> {
    fn duration_ms(&self) -> i64 {
        self.spans.iter().map(|(a, b)| b - a).sum()
    }

    fn weight(&self) -> f64 {
        let mean = self.weighted_score / self.event_ms.max(1) as f64;
        self.duration_ms() as f64 / 1000.0 * mean
    }
}

/// Sorts and merges overlapping or touching spans.
fn merged(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Milliseconds of `spans` that `cover` overlaps (both merged).
fn overlap_ms(spans: &[(i64, i64)], cover: &[(i64, i64)]) -> i64 {
    let mut total = 0;
    for &(a, b) in spans {
        for &(c, d) in cover {
            total += (b.min(d) - a.max(c)).max(0);
        }
    }
    total
}

/// The file's sound summary, most characteristic class first.
pub fn summarize<'a>(events: impl IntoIterator<Item = Heard<'a>>) -> Vec<SoundSummary> {
    let mut classes: HashMap<&str, Class> = HashMap::new();
    for e in events {
        if NOT_SOUNDS.contains(&e.name) || e.end_ms <= e.start_ms {
            continue;
        }
        let class = classes.entry(e.name).or_insert_with(|| Class {
            name: e.name,
            spans: Vec::new(),
            peak: 0.0,
            weighted_score: 0.0,
            event_ms: 0,
        });
        class.spans.push((e.start_ms, e.end_ms));
        class.peak = class.peak.max(e.score);
        class.weighted_score += e.score * (e.end_ms - e.start_ms) as f64;
        class.event_ms += e.end_ms - e.start_ms;
    }
    for class in classes.values_mut() {
        class.spans = merged(std::mem::take(&mut class.spans));
    }
    let present: HashSet<&str> = classes.keys().copied().collect();
    let mut below: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for class in classes.values() {
        for above in ancestors(class.name) {
            if present.contains(above) {
                below
                    .entry(above)
                    .or_default()
                    .extend_from_slice(&class.spans);
            }
        }
    }
    let mut summary: Vec<SoundSummary> = classes
        .values()
        .filter(|class| {
            below.get(class.name).is_none_or(|spans| {
                let covered = overlap_ms(&class.spans, &merged(spans.clone()));
                (covered as f64) < COVERED_BY_DESCENDANTS * class.duration_ms() as f64
            })
        })
        .map(|class| SoundSummary {
            name: class.name.to_owned(),
            duration_ms: class.duration_ms(),
            peak: class.peak,
            weight: class.weight(),
        })
        .collect();
    summary.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.name.cmp(&b.name)));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(name: &str, start_ms: i64, end_ms: i64, score: f64) -> Heard<'_> {
        Heard {
            name,
            start_ms,
            end_ms,
            score,
        }
    }

    fn names(summary: &[SoundSummary]) -> Vec<&str> {
        summary.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn the_ontology_table_knows_the_yamnet_classes() {
        assert_eq!(ancestors("Dog"), ["Animal", "Domestic animals, pets"]);
        assert!(ancestors("Bark").contains(&"Dog"));
        assert!(ancestors("Child speech, kid speaking").contains(&"Speech"));
        assert!(ancestors("Animal").is_empty());
        assert!(ancestors("no such class").is_empty());
    }

    /// The dog clip of the issue: silent at first, then barking that the model also hears as
    /// Animal and "Domestic animals, pets", and a short false Ringtone.
    #[test]
    fn a_barking_dog_is_a_dog_not_silence_or_an_animal() {
        let events = [
            heard("Silence", 0, 4000, 0.95),
            heard("Animal", 4000, 7000, 0.8),
            heard("Domestic animals, pets", 4000, 7000, 0.7),
            heard("Dog", 4000, 5000, 0.41),
            heard("Dog", 5500, 7000, 0.38),
            heard("Bark", 4500, 5000, 0.35),
            heard("Ringtone", 6000, 6500, 0.6),
        ];
        let summary = summarize(events);
        assert_eq!(names(&summary), ["Dog", "Ringtone", "Bark"], "{summary:?}");
        assert_eq!(summary[0].duration_ms, 2500);
        assert_eq!(summary[0].peak, 0.41);
    }

    #[test]
    fn a_parent_heard_mostly_without_its_children_stays() {
        // Speech all along, a child speaking for one second of it.
        let events = [
            heard("Speech", 0, 10_000, 0.9),
            heard("Child speech, kid speaking", 2000, 3000, 0.5),
        ];
        assert_eq!(
            names(&summarize(events)),
            ["Speech", "Child speech, kid speaking"]
        );
    }

    #[test]
    fn lasting_sounds_outrank_brief_loud_ones_and_overlaps_count_once() {
        let events = [
            heard("Music", 0, 20_000, 0.4),
            heard("Music", 5000, 15_000, 0.5),
            heard("Gunshot, gunfire", 1000, 1500, 0.99),
            heard("Door", 3000, 3000, 0.9),
        ];
        let summary = summarize(events);
        assert_eq!(names(&summary), ["Music", "Gunshot, gunfire"]);
        assert_eq!(summary[0].duration_ms, 20_000);
    }
}
