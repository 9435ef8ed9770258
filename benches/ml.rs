//! ML inference speed: every ONNX model of the manifest in tract against onnxruntime, both on one
//! thread (tract is single-threaded), on the same real preprocessed input (median and fastest of
//! 30 runs, YAMNet 100, after a warm-up), with the largest difference between their first
//! outputs; whisper-tiny.en's real-time factor on jfk.wav and on about a minute of espeak-ng
//! speech; and peak RSS with every model loaded.
//!
//! `cargo bench --bench ml` (`ML_OPS=1` also prints where each model's time goes). Models and test pictures come from `ALCOVES_MODELS_DIR` (default
//! `../shared/models`). onnxruntime runs in `benches/ml_peer.py` (`pip install onnxruntime onnx
//! numpy`); the long speech needs `espeak-ng` and `ffmpeg`.

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alcoves::ml::MlError;
use alcoves::ml::audio_features::log_mel;
use alcoves::ml::models::{spec, weights_path};
use alcoves::ml::onnx::{OnnxModel, PixelFormat, planar, resize_exact};
use alcoves::ml::transcribe::{Options, transcribe};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/ml_peer.py");
const RUNS: usize = 30;
/// YAMNet runs once per 0.48 s of audio, so it is timed more often.
const AUDIO_RUNS: usize = 100;
const RATE: f64 = 16_000.0;

/// The vision models with their test picture and pixel format; the size is the manifest's.
const PICTURES: [(&str, &str, PixelFormat); 5] = [
    (
        "face-detector",
        "astronaut.jpg",
        PixelFormat::rgb_centred(127.0),
    ),
    ("face-landmarks", "astronaut.jpg", PixelFormat::BGR_RAW),
    (
        "face-embedder",
        "astronaut.jpg",
        PixelFormat::rgb_centred(127.5),
    ),
    ("object-detector", "dog.jpg", PixelFormat::BGR_RAW),
    (
        "image-tagger",
        "chelsea.png",
        PixelFormat::rgb_centred(127.0),
    ),
];

/// About a minute of speech at espeak-ng's 150 words a minute.
const SPEECH: &str = "The old lighthouse stood at the edge of the harbour for more than a hundred \
years. Every evening the keeper climbed the narrow stairs, wound the clockwork, and lit the lamp \
that guided the fishing boats home through fog and rain. In winter the storms came from the \
north, and the waves broke over the rocks so high that salt crusted the windows of the lantern \
room.

When the harbour was modernised, an automatic light replaced the keeper, and the tower was sold \
to the town for a single coin. Volunteers repaired the roof, painted the walls white and red \
again, and opened a small museum on the ground floor. Children now visit on school trips to see \
the great glass lens, the logbooks written in careful handwriting, and the photographs of the \
ships that passed the point.

On clear summer nights the lamp is still lit by hand, once a year, to remember the people who \
kept it burning.";

/// One model with its input.
struct Case {
    name: &'static str,
    shape: Vec<usize>,
    input: Vec<f32>,
    runs: usize,
}

/// Median and fastest of some runs, in milliseconds.
struct Timing {
    median: f64,
    min: f64,
}

impl Timing {
    fn of(mut ms: Vec<f64>) -> Timing {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        Timing {
            median: (ms[(n - 1) / 2] + ms[n / 2]) / 2.0,
            min: ms[0],
        }
    }

    fn cell(&self) -> String {
        format!("{:.1} ({:.1})", self.median, self.min)
    }
}

/// `MlError` is not an `Error`, so `?` cannot box it.
fn ml<T>(result: std::result::Result<T, MlError>) -> Result<T> {
    result.map_err(|e| e.to_string().into())
}

/// The samples of a 16 kHz mono 16-bit PCM WAV file, in -1..1.
fn read_wav(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    let bad = |why: &str| -> Box<dyn Error> { format!("{}: {why}", path.display()).into() };
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file"));
    }
    let mut pcm16k = false;
    let mut rest = &bytes[12..];
    while rest.len() >= 8 {
        let size = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let body = &rest[8..rest.len().min(8 + size)];
        match &rest[..4] {
            b"fmt " if body.len() >= 16 => {
                let word = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                pcm16k = word(0) == 1 && word(2) == 1 && rate == 16_000 && word(14) == 16;
            }
            b"data" if pcm16k => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .collect());
            }
            b"data" => return Err(bad("not 16 kHz mono 16-bit PCM")),
            _ => {}
        }
        rest = rest.get(8 + size + size % 2..).unwrap_or_default();
    }
    Err(bad("no data chunk"))
}

/// Runs a command to completion.
fn run(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command.output().map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("{program} is not installed"),
        _ => format!("{program}: {e}"),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{program} failed: {}", stderr.trim()).into());
    }
    Ok(())
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The preprocessed inputs: each vision model's picture, and YAMNet's first patch of jfk.wav.
fn cases(testdata: &Path, jfk: &[f32]) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (name, picture, format) in PICTURES {
        let shape = ml(spec(name))?.input.clone();
        let rgb = image::open(testdata.join(picture))?.to_rgb8();
        let resized = ml(resize_exact(&rgb, shape[3] as u32, shape[2] as u32))?;
        cases.push(Case {
            name,
            shape,
            input: planar(&resized, format),
            runs: RUNS,
        });
    }
    let mel = log_mel(jfk);
    let (_, patch) = mel
        .patches()
        .next()
        .ok_or("jfk.wav gives no log-mel patch")?;
    cases.push(Case {
        name: "audio-events",
        shape: ml(spec("audio-events"))?.input.clone(),
        input: patch.to_vec(),
        runs: AUDIO_RUNS,
    });
    Ok(cases)
}

/// Loads `case`'s model in tract; times it and returns it with the timing and its first output.
fn tract(models: &Path, case: &Case) -> Result<(OnnxModel, Timing, Vec<f32>)> {
    let model = OnnxModel::load_with_input(models, ml(spec(case.name))?, &case.shape)?;
    let warm_up = ml(model.run(case.input.clone()))?;
    let first = warm_up.into_iter().next().ok_or("no output")?.data;
    let mut ms = Vec::with_capacity(case.runs);
    for _ in 0..case.runs {
        let input = case.input.clone();
        let started = Instant::now();
        ml(model.run(input))?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    if std::env::var_os("ML_OPS").is_some() {
        let ops = ml(model.time_by_op(&case.input, case.runs))?;
        let ops: Vec<String> = ops
            .iter()
            .take(6)
            .map(|(op, ms)| format!("{op} {ms:.2}"))
            .collect();
        eprintln!("  {}: {}", case.name, ops.join(", "));
    }
    Ok((model, Timing::of(ms), first))
}

/// Runs every case in onnxruntime through the peer script; its JSON line per model, by name.
fn onnxruntime(models: &Path, tmp: &Path, cases: &[Case]) -> Result<HashMap<String, Value>> {
    let mut jobs = Vec::new();
    for case in cases {
        let input = tmp.join(format!("{}.f32", case.name));
        std::fs::write(&input, le_bytes(&case.input))?;
        jobs.push(json!({
            "name": case.name,
            "model": weights_path(models, ml(spec(case.name))?),
            "input": input,
            "shape": case.shape,
            "runs": case.runs,
        }));
    }
    let list = tmp.join("jobs.json");
    std::fs::write(&list, serde_json::to_vec(&jobs)?)?;
    let out = Command::new("python3")
        .arg(PEER)
        .arg(&list)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{PEER} failed: {}", stderr.trim()).into());
    }
    let mut lines = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let value: Value = serde_json::from_str(line)?;
        let name = value["name"].as_str().unwrap_or_default().to_owned();
        lines.insert(name, value);
    }
    Ok(lines)
}

/// onnxruntime's timing and the largest difference from tract's first output, or why not.
fn compare(peer: Option<&Value>, tract_output: &[f32]) -> Result<(Timing, f32)> {
    let peer = peer.ok_or("no result")?;
    if let Some(error) = peer["error"].as_str() {
        return Err(error.into());
    }
    let timing = Timing {
        median: peer["median_ms"].as_f64().ok_or("no median_ms")?,
        min: peer["min_ms"].as_f64().ok_or("no min_ms")?,
    };
    let output = read_f32(Path::new(peer["output"].as_str().ok_or("no output")?))?;
    if output.len() != tract_output.len() {
        return Err(format!(
            "first output has {} values in onnxruntime, {} in tract",
            output.len(),
            tract_output.len()
        )
        .into());
    }
    let diff = output
        .iter()
        .zip(tract_output)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    Ok((timing, diff))
}

/// whisper-tiny.en on 2 threads: audio seconds per wall-clock second, and the text.
fn real_time_factor(models: &Path, samples: &[f32]) -> Result<(f64, String)> {
    let options = Options {
        model: "whisper-tiny.en",
        language: Some("en"),
        threads: 2,
        deadline: Instant::now() + Duration::from_secs(600),
    };
    let started = Instant::now();
    let transcript = ml(transcribe(models, samples, &options, &mut |_| {}))?;
    let secs = started.elapsed().as_secs_f64();
    let text: Vec<&str> = transcript
        .segments
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    Ok((samples.len() as f64 / RATE / secs, text.join(" ")))
}

/// About a minute of espeak-ng speech as 16 kHz mono.
fn long_speech(tmp: &Path) -> Result<Vec<f32>> {
    let raw = tmp.join("speech.wav");
    let wav = tmp.join("speech-16k.wav");
    run(Command::new("espeak-ng")
        .arg("-w")
        .arg(&raw)
        .args(["-s", "150", SPEECH]))?;
    run(Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-i"])
        .arg(&raw)
        .args(["-ar", "16000", "-ac", "1"])
        .arg(&wav))?;
    read_wav(&wav)
}

fn bench(models: &Path, tmp: &Path) -> Result<()> {
    let testdata = models.join("testdata");
    let jfk = read_wav(&testdata.join("jfk.wav"))?;
    let cases = cases(&testdata, &jfk)?;

    let mut loaded = Vec::new();
    let mut tract_results = Vec::new();
    for case in &cases {
        eprintln!("tract: {}…", case.name);
        let (model, timing, output) = tract(models, case)?;
        loaded.push(model);
        tract_results.push((timing, output));
    }
    eprintln!("onnxruntime…");
    let peer = onnxruntime(models, tmp, &cases).unwrap_or_else(|e| {
        println!("onnxruntime not measured: {e}");
        println!("(the peer needs python3 with `pip install onnxruntime onnx numpy`)");
        HashMap::new()
    });

    println!("ONNX models on one thread, ms median (fastest) after a warm-up");
    println!(
        "{:<16} {:>5} {:>14} {:>14} {:>9} {:>10}",
        "model", "runs", "tract", "onnxruntime", "tract/ORT", "max |diff|"
    );
    let mut notes = Vec::new();
    for (case, (ours, output)) in cases.iter().zip(&tract_results) {
        let (ort, ratio, diff) = match compare(peer.get(case.name), output) {
            Ok((ort, diff)) => (
                ort.cell(),
                format!("{:.2}", ours.median / ort.median),
                format!("{diff:.1e}"),
            ),
            Err(e) => {
                if !peer.is_empty() {
                    notes.push(format!("{}: {e}", case.name));
                }
                ("-".into(), "-".into(), "-".into())
            }
        };
        println!(
            "{:<16} {:>5} {:>14} {ort:>14} {ratio:>9} {diff:>10}",
            case.name,
            case.runs,
            ours.cell()
        );
    }
    for note in notes {
        println!("  onnxruntime {note}");
    }

    eprintln!("whisper…");
    // The first call also verifies and loads whisper and the speech detector: a warm-up.
    real_time_factor(models, &jfk)?;
    println!("whisper-tiny.en, 2 threads (speech detection included)");
    let (rtf, text) = real_time_factor(models, &jfk)?;
    println!(
        "  jfk.wav ({:.1} s): {rtf:.1}x real time: {text:.60}…",
        jfk.len() as f64 / RATE
    );
    match long_speech(tmp) {
        Ok(speech) => {
            let (rtf, text) = real_time_factor(models, &speech)?;
            println!(
                "  espeak-ng speech ({:.1} s): {rtf:.1}x real time: {text:.60}…",
                speech.len() as f64 / RATE
            );
        }
        Err(e) => println!("  espeak-ng speech: skipped ({e})"),
    }

    println!(
        "peak RSS with every model loaded ({} ONNX + whisper): {:.0} MiB",
        loaded.len(),
        common::own_peak_rss_mib()
    );
    Ok(())
}

fn main() -> Result<()> {
    let models = std::env::var_os("ALCOVES_MODELS_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models")),
        PathBuf::from,
    );
    let tmp = std::env::temp_dir().join(format!("alcoves-bench-ml-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = bench(&models, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
