//! Speech to text with whisper.cpp (whisper-rs). Silero VAD finds the speech first; speech is
//! transcribed in chunks of up to 30 s, so silence costs nothing, and segment times are put back
//! on the original audio's timeline. A recording is heard five minutes at a time as it is
//! decoded, so an hour of it is never in memory at once.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
    WhisperVadContext, WhisperVadContextParams, WhisperVadParams,
};

use super::MlError;
use super::models::{Lazy, weights_path};
use crate::media::av::SampleSink;

/// One stretch of speech, times in milliseconds from the start of the audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
}

/// What was said in a recording, and in which language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The spoken language's code (ISO 639-1, as whisper names it): the one asked for, or the
    /// one detected; `None` when nothing was said.
    pub language: Option<String>,
    pub segments: Vec<Segment>,
}

/// Whether `code` is the short code of a language whisper knows (`en`, `de`, `haw`, …).
pub fn known_language(code: &str) -> bool {
    (2..=3).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_lowercase())
        && whisper_rs::get_lang_id(code).is_some()
}

/// The speech detector's manifest name.
pub const VAD_MODEL: &str = "speech-detector";
/// Samples per second of whisper's input.
const RATE: usize = 16_000;
/// Longest chunk handed to whisper at once: its window.
const MAX_CHUNK: usize = 30 * RATE;
/// Whisper's encoder positions for a full window.
const FULL_CONTEXT: usize = 1500;

/// The encoder context a chunk of `len` samples needs: whisper encodes a full 30 s window even
/// for a short chunk, so short ones get a proportionally shorter context (with a margin).
fn audio_context(len: usize) -> i32 {
    let needed = len * FULL_CONTEXT / MAX_CHUNK + 128;
    needed.min(FULL_CONTEXT) as i32
}

/// Speech padded by this much on each side, so words are not clipped.
const PAD: usize = RATE / 5;
/// Speech separated by less silence than this stays in one chunk: whisper reads better with
/// context, and only long silences are worth skipping.
const JOIN_GAP: usize = 2 * RATE;

static WHISPER: Lazy<WhisperContext> = Lazy::new();
static VAD: Lazy<Mutex<WhisperVadContext>> = Lazy::new();

/// Whether this CPU can run the whisper.cpp build (x86-64 builds need AVX2, FMA and F16C).
pub fn cpu_supported() -> Result<(), MlError> {
    #[cfg(target_arch = "x86_64")]
    if !(is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c"))
    {
        return Err(MlError::Unsupported(
            "transcription needs a CPU with AVX2, FMA and F16C".into(),
        ));
    }
    Ok(())
}

fn load_whisper(dir: &Path, spec: &super::models::ModelSpec) -> Result<WhisperContext, String> {
    whisper_rs::install_logging_hooks();
    let path = weights_path(dir, spec);
    WhisperContext::new_with_params(&path, WhisperContextParameters::default())
        .map_err(|e| format!("loading {}: {e}", spec.file))
}

fn load_vad(
    dir: &Path,
    spec: &super::models::ModelSpec,
) -> Result<Mutex<WhisperVadContext>, String> {
    whisper_rs::install_logging_hooks();
    let mut params = WhisperVadContextParams::new();
    params.set_n_threads(1);
    let path = weights_path(dir, spec);
    WhisperVadContext::new(&path.to_string_lossy(), params)
        .map(Mutex::new)
        .map_err(|e| format!("loading {}: {e}", spec.file))
}

/// What to transcribe with.
pub struct Options<'a> {
    /// The whisper model's manifest name.
    pub model: &'a str,
    /// A language code, or `None` to detect it from the first stretch of speech (an
    /// English-only model always hears English).
    pub language: Option<&'a str>,
    pub threads: usize,
    pub deadline: Instant,
}

/// Transcribes 16 kHz mono `samples` held in memory (see [`Transcriber`]); `on_progress` gets
/// the fraction done.
pub fn transcribe(
    dir: &Path,
    samples: &[f32],
    options: &Options,
    on_progress: &mut dyn FnMut(f64),
) -> Result<Transcript, MlError> {
    let mut transcriber = Transcriber::new(dir, options, on_progress)?;
    transcriber.expect(samples.len());
    let _ = transcriber.take(samples);
    transcriber.finish()
}

/// Samples held at most before the speech in them is transcribed: five minutes (19 MB), so a
/// long recording is never in memory whole.
const WINDOW: usize = 5 * 60 * RATE;

/// Transcribes a recording as it is decoded (a [`SampleSink`]): whenever five minutes of
/// samples are in, the speech detector finds the speech in them and whisper transcribes it,
/// except the last stretch, which may go on past the window and is heard again with what
/// follows.
pub struct Transcriber<'a> {
    vad: Arc<Mutex<WhisperVadContext>>,
    state: WhisperState,
    threads: usize,
    deadline: Instant,
    /// The language asked for, or the one the first stretch of speech was heard in.
    language: Option<String>,
    /// Samples not transcribed yet.
    window: Vec<f32>,
    /// Where `window` starts in the recording, in samples.
    offset: usize,
    /// Samples expected in all, for progress (0 while unknown).
    total: usize,
    segments: Vec<Segment>,
    /// The first failure, after which samples are refused.
    error: Option<MlError>,
    on_progress: &'a mut dyn FnMut(f64),
}

impl<'a> Transcriber<'a> {
    /// A transcriber with the models from `dir`; `on_progress` gets the fraction transcribed.
    pub fn new(
        dir: &Path,
        options: &Options,
        on_progress: &'a mut dyn FnMut(f64),
    ) -> Result<Transcriber<'a>, MlError> {
        cpu_supported()?;
        let whisper = WHISPER.get(dir, options.model, load_whisper)?;
        let vad = VAD.get(dir, VAD_MODEL, load_vad)?;
        let state = whisper
            .create_state()
            .map_err(|e| MlError::Inference(format!("whisper state: {e}")))?;
        let language = match options.language {
            Some(code) => Some(code.to_owned()),
            None if !whisper.is_multilingual() => Some("en".to_owned()),
            None => None,
        };
        Ok(Transcriber {
            vad,
            state,
            threads: options.threads.max(1),
            deadline: options.deadline,
            language,
            window: Vec::new(),
            offset: 0,
            total: 0,
            segments: Vec::new(),
            error: None,
            on_progress,
        })
    }

    /// What was said, once the recording has ended.
    pub fn finish(mut self) -> Result<Transcript, MlError> {
        if self.error.is_none() {
            self.transcribe_window(true)?;
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(Transcript {
            language: self.language.filter(|_| !self.segments.is_empty()),
            segments: self.segments,
        })
    }

    /// Transcribes the speech in the window, all of it when it is the `last`; else a stretch of
    /// speech that may go on past the end, and the last second (where speech may begin), stay
    /// for the next window.
    fn transcribe_window(&mut self, last: bool) -> Result<(), MlError> {
        let speech: Vec<(usize, usize)> = {
            let mut vad = self.vad.lock().unwrap_or_else(|e| e.into_inner());
            vad.segments_from_samples(WhisperVadParams::new(), &self.window)
                .map_err(|e| MlError::Inference(format!("speech detection: {e}")))?
                .map(|s| (centis_to_samples(s.start), centis_to_samples(s.end)))
                .collect()
        };
        let mut chunks = chunks(&speech, self.window.len());
        let len = self.window.len();
        let heard = if last {
            len
        } else {
            let tail = len.saturating_sub(RATE);
            match chunks.last() {
                // Speech too close to the end to be over is heard again with what follows.
                Some(&(start, end)) if end + JOIN_GAP > len => start.min(tail),
                _ => tail,
            }
        };
        chunks.retain(|&(_, end)| end <= heard);
        for (start, end) in chunks {
            self.transcribe_chunk(start, end)?;
        }
        self.window.drain(..heard);
        self.offset += heard;
        if self.total > 0 {
            (self.on_progress)((self.offset as f64 / self.total as f64).min(1.0));
        }
        Ok(())
    }

    /// Transcribes `window[start..end]`, adding its segments on the recording's timeline.
    fn transcribe_chunk(&mut self, start: usize, end: usize) -> Result<(), MlError> {
        if Instant::now() >= self.deadline {
            return Err(MlError::Media(crate::media::MediaError::TimedOut));
        }
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(self.language.as_deref());
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_print_special(false);
        params.set_suppress_nst(true);
        params.set_no_context(true);
        params.set_audio_ctx(audio_context(end - start));
        let deadline = self.deadline;
        // Boxed as the trait object the callback trampoline expects (whisper-rs 0.16).
        params.set_abort_callback_safe(
            Box::new(move || Instant::now() >= deadline) as Box<dyn FnMut() -> bool>
        );
        self.state
            .full(params, &self.window[start..end])
            .map_err(|e| MlError::Inference(format!("whisper: {e}")))?;
        if self.language.is_none() {
            // The first stretch decides for the whole file, so later chunks do not flip.
            self.language =
                whisper_rs::get_lang_str(self.state.full_lang_id_from_state()).map(str::to_owned);
        }
        let offset_ms = ((self.offset + start) * 1000 / RATE) as i64;
        for segment in self.state.as_iter() {
            let text = segment
                .to_str_lossy()
                .map_err(|e| MlError::Inference(format!("whisper text: {e}")))?
                .trim()
                .to_owned();
            if !text.is_empty() {
                self.segments.push(Segment {
                    start_ms: offset_ms + segment.start_timestamp() * 10,
                    end_ms: offset_ms + segment.end_timestamp() * 10,
                    text,
                });
            }
        }
        Ok(())
    }
}

impl SampleSink for Transcriber<'_> {
    fn expect(&mut self, total: usize) {
        self.total = total;
        // A second more than expected, as the decoder's sink does; never more than a window.
        let room = total.saturating_add(RATE).min(WINDOW + RATE);
        self.window
            .reserve_exact(room.saturating_sub(self.window.len()));
    }

    fn take(&mut self, samples: &[f32]) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        self.window.extend_from_slice(samples);
        if self.window.len() >= WINDOW
            && let Err(e) = self.transcribe_window(false)
        {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn centis_to_samples(centis: f32) -> usize {
    (centis.max(0.0) * (RATE / 100) as f32) as usize
}

/// Speech spans (in samples) padded, joined across short silences and cut into whisper-sized
/// chunks, within `len` samples.
fn chunks(speech: &[(usize, usize)], len: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(start, end) in speech {
        let (start, end) = (start.saturating_sub(PAD), (end + PAD).min(len));
        if start >= end {
            continue;
        }
        match out.last_mut() {
            Some(last) if start <= last.1 + JOIN_GAP && end - last.0 <= MAX_CHUNK => {
                last.1 = last.1.max(end)
            }
            _ => {
                let mut at = start;
                while end - at > MAX_CHUNK {
                    out.push((at, at + MAX_CHUNK));
                    at += MAX_CHUNK;
                }
                out.push((at, end));
            }
        }
    }
    out
}

/// `segments` as a WebVTT document.
pub fn webvtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, s) in segments.iter().enumerate() {
        out.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            vtt_time(s.start_ms),
            vtt_time(s.end_ms),
            s.text.replace("-->", "->")
        ));
    }
    out
}

fn vtt_time(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_padded_joined_and_cut_to_whisper_windows() {
        let s = RATE;
        // Two bits of speech half a second apart join; a far one stays apart.
        assert_eq!(
            chunks(
                &[(s, 2 * s), (2 * s + s / 4, 3 * s), (10 * s, 11 * s)],
                20 * s
            ),
            vec![(s - PAD, 3 * s + PAD), (10 * s - PAD, 11 * s + PAD)]
        );
        // A 70 s monologue becomes 30 + 30 + 10 (plus padding).
        let long = chunks(&[(0, 70 * s)], 80 * s);
        assert_eq!(long.len(), 3);
        assert!(long.iter().all(|(a, b)| b - a <= MAX_CHUNK));
        assert_eq!(long.last().unwrap().1, 70 * s + PAD);
    }

    #[test]
    fn webvtt_has_cues_with_times() {
        let vtt = webvtt(&[Segment {
            start_ms: 3_723_004,
            end_ms: 3_725_000,
            text: "ask not --> why".into(),
        }]);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n01:02:03.004 --> 01:02:05.000\nask not -> why\n"
        );
    }
}
