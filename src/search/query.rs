//! The search box's small query language: words and `"quoted phrases"` are matched against
//! the search documents (each word also as a prefix), `key:value` or `key:"two words"` filter:
//! `person:` (several: all of them), `label:`, `sound:`, `camera:`, `folder:` (a path, with its
//! subfolders), `kind:`, `after:` and `before:` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), `has:faces`,
//! `has:transcript` and `is:duplicate`. `word:` asks for words said in the recording, and
//! `within:5s` for moments where every `sound:` and `word:` happen within that time of each
//! other (`sound:laughter word:goal within:5s`).

use crate::calendar;
use crate::files::MediaKind;

/// What to look for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query {
    /// Words and phrases, folded; each must match.
    pub terms: Vec<Vec<String>>,
    pub people: Vec<String>,
    pub labels: Vec<String>,
    pub sounds: Vec<String>,
    pub cameras: Vec<String>,
    /// Folder paths, `A/B`.
    pub folders: Vec<String>,
    pub kind: Option<MediaKind>,
    /// Taken at or after this day (days since the epoch).
    pub after: Option<i64>,
    /// Taken before the end of this day.
    pub before: Option<i64>,
    pub has_faces: bool,
    pub has_transcript: bool,
    pub is_duplicate: bool,
    /// Words or phrases said in the recording (folded), from `word:`.
    pub said: Vec<Vec<String>>,
    /// How close together, in ms, the sounds and words must happen.
    pub within_ms: Option<i64>,
    /// Taken inside this box on the map.
    pub area: Option<crate::map::Area>,
}

/// The filter keys, for error messages.
const KEYS: &str =
    "person, label, sound, word, within, camera, folder, kind, after, before, has, is, bbox";

/// The longest `within:`.
const MAX_WITHIN_MS: i64 = 3_600_000;

impl Query {
    /// Parses the search box's text; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut query = Query::default();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let (token, after) = next_token(rest)?;
            rest = after.trim_start();
            match token {
                Token::Text(text) => {
                    let words = super::words(&text);
                    if !words.is_empty() {
                        query.terms.push(words);
                    }
                }
                Token::Filter(key, value) => query.apply(&key, value)?,
            }
        }
        Ok(query)
    }

    /// Adds filter `key` with `value`.
    pub fn apply(&mut self, key: &str, value: String) -> Result<(), String> {
        if value.trim().is_empty() {
            return Err(format!("`{key}:` needs a value"));
        }
        match key.to_ascii_lowercase().as_str() {
            "person" => self.people.push(value),
            "label" => self.labels.push(value),
            "sound" => self.sounds.push(value),
            "camera" => self.cameras.push(value),
            "word" => match super::words(&value) {
                words if words.is_empty() => return Err(format!("`word:{value}` has no word")),
                words => self.said.push(words),
            },
            "within" => self.within_ms = Some(duration_ms(&value)?),
            "bbox" => self.area = Some(crate::map::Area::parse(&value)?),
            "folder" => self.folders.push(value.trim_matches('/').to_owned()),
            "kind" => {
                self.kind = Some(MediaKind::parse(&value).ok_or_else(|| {
                    format!("`kind:{value}`: a kind is photo, video, audio or other")
                })?)
            }
            "after" => self.after = Some(first_day(&value, key)?),
            "before" => self.before = Some(last_day(&value, key)?),
            "has" => match value.as_str() {
                "faces" => self.has_faces = true,
                "transcript" => self.has_transcript = true,
                _ => return Err(format!("`has:{value}`: use has:faces or has:transcript")),
            },
            "is" => match value.as_str() {
                "duplicate" => self.is_duplicate = true,
                _ => return Err(format!("`is:{value}`: use is:duplicate")),
            },
            _ => return Err(format!("unknown filter `{key}:` (known: {KEYS})")),
        }
        Ok(())
    }

    /// Checks what only the whole query can tell: `within:` needs two things to bring together.
    pub fn validate(&self) -> Result<(), String> {
        if self.within_ms.is_some() && self.sounds.len() + self.said.len() < 2 {
            return Err(
                "`within:` needs two or more `sound:` and `word:` to bring together".into(),
            );
        }
        Ok(())
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        *self == Query::default()
    }
}

enum Token {
    Text(String),
    Filter(String, String),
}

/// The token at the start of `text` (which starts with no space) and what follows it.
fn next_token(text: &str) -> Result<(Token, &str), String> {
    if let Some(quoted) = text.strip_prefix('"') {
        let (inside, rest) = closing_quote(quoted)?;
        return Ok((Token::Text(inside.to_owned()), rest));
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let word = &text[..end];
    match word.split_once(':') {
        Some((key, value)) if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphabetic()) => {
            let after_colon = &text[key.len() + 1..];
            if let Some(quoted) = after_colon.strip_prefix('"') {
                let (inside, rest) = closing_quote(quoted)?;
                Ok((Token::Filter(key.to_owned(), inside.to_owned()), rest))
            } else {
                Ok((
                    Token::Filter(key.to_owned(), value.to_owned()),
                    &text[end..],
                ))
            }
        }
        _ => Ok((Token::Text(word.to_owned()), &text[end..])),
    }
}

/// Splits `text` (just after an opening quote) at its closing quote.
fn closing_quote(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .find('"')
        .ok_or_else(|| format!("a quote is not closed: \"{text}"))?;
    Ok((&text[..end], &text[end + 1..]))
}

/// `5s`, `500ms`, `2m` or plain seconds, in ms.
fn duration_ms(value: &str) -> Result<i64, String> {
    let bad = || format!("`within:{value}`: a time is like 5s, 500ms or 2m, at most an hour");
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        _ => return Err(bad()),
    };
    (1..=MAX_WITHIN_MS)
        .contains(&ms)
        .then_some(ms)
        .ok_or_else(bad)
}

/// The first day of `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
fn first_day(value: &str, key: &str) -> Result<i64, String> {
    let bad = || format!("`{key}:{value}`: a date is YYYY, YYYY-MM or YYYY-MM-DD");
    let full = match value.len() {
        4 => format!("{value}-01-01"),
        7 => format!("{value}-01"),
        10 => value.to_owned(),
        _ => return Err(bad()),
    };
    calendar::parse_day_key(&full).ok_or_else(bad)
}

/// The last day of `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
fn last_day(value: &str, key: &str) -> Result<i64, String> {
    let first = first_day(value, key)?;
    let (y, m, _) = calendar::civil_from_days(first);
    Ok(match value.len() {
        4 => calendar::days_from_civil(y + 1, 1, 1) - 1,
        7 if m == 12 => calendar::days_from_civil(y + 1, 1, 1) - 1,
        7 => calendar::days_from_civil(y, m + 1, 1) - 1,
        _ => first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_and_filters() {
        let q = Query::parse(
            r#"person:"Anna Berg" label:dog after:2024-05 sound:laughter "Happy Birthday" café"#,
        )
        .unwrap();
        assert_eq!(q.people, ["Anna Berg"]);
        assert_eq!(q.labels, ["dog"]);
        assert_eq!(q.sounds, ["laughter"]);
        assert_eq!(q.after, calendar::parse_day_key("2024-05-01"));
        assert_eq!(q.terms, [vec!["happy", "birthday"], vec!["cafe"]]);
        let q = Query::parse("before:2024 kind:video has:faces is:duplicate folder:/Trips/2024/")
            .unwrap();
        assert_eq!(q.before, calendar::parse_day_key("2024-12-31"));
        assert_eq!(q.kind, Some(MediaKind::Video));
        assert!(q.has_faces && q.is_duplicate && !q.has_transcript);
        assert_eq!(q.folders, ["Trips/2024"]);
        assert_eq!(
            Query::parse("before:2024-02").unwrap().before,
            calendar::parse_day_key("2024-02-29")
        );
        assert!(Query::parse("  ").unwrap().is_empty());
        assert_eq!(
            Query::parse("12:30 ok").unwrap().terms,
            [vec!["12", "30"], vec!["ok"]]
        );
        let q = Query::parse(r#"sound:Laughter word:"Goal!" within:5s"#).unwrap();
        assert_eq!(
            (q.said.clone(), q.within_ms),
            (vec![vec!["goal".to_owned()]], Some(5000))
        );
        assert!(q.validate().is_ok());
        assert_eq!(Query::parse("within:500ms").unwrap().within_ms, Some(500));
        assert_eq!(Query::parse("within:2m").unwrap().within_ms, Some(120_000));
    }

    #[test]
    fn bad_syntax_is_named() {
        for (text, names) in [
            ("colour:red", "unknown filter `colour:`"),
            ("person:\"Anna", "quote is not closed"),
            ("\"happy birthday", "quote is not closed"),
            ("after:2024-13", "`after:2024-13`"),
            ("after:yesterday", "a date is"),
            ("kind:picture", "`kind:picture`"),
            ("has:cats", "`has:cats`"),
            ("label:", "`label:` needs a value"),
            ("within:5h", "`within:5h`"),
            ("within:0s", "`within:0s`"),
            ("word:!!", "`word:!!` has no word"),
        ] {
            let err = Query::parse(text).unwrap_err();
            assert!(err.contains(names), "{text}: {err}");
        }
        let lonely = Query::parse("sound:laughter within:5s").unwrap().validate();
        assert!(lonely.unwrap_err().contains("two or more"));
    }
}
