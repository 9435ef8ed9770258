use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::poster::{MIN_POSTER_LUMA, mean_luma};
use super::*;

const MP4: &str = "mov,mp4,m4a,3gp,3g2,mj2";

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("alcoves-av-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn limits() -> Limits {
    Limits {
        max_pixels: 50_000_000,
        max_dimension: 10_000,
        max_duration: Duration::from_secs(600),
        max_frames: 100_000,
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// 2 s of 320x240 at 25 fps and a 44.1 kHz mono sine, encoded with `codecs`.
fn clip(scratch: &Scratch, name: &str, codecs: &[&str]) -> PathBuf {
    let path = scratch.path(name);
    let sources = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        "2",
    ];
    ffmpeg(&[&sources[..], codecs, &[text(&path)]].concat());
    path
}

fn h264_mp4(scratch: &Scratch) -> PathBuf {
    let codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"];
    clip(scratch, "clip.mp4", &codecs)
}

fn close(a: Option<i64>, b: Option<i64>, tolerance: i64) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= tolerance)
}

#[test]
fn probes_an_h264_mp4() {
    let scratch = Scratch::new("probe");
    let info = probe(&h264_mp4(&scratch), &limits()).expect("probe");
    assert_eq!(info.format, MP4);
    assert!(close(info.duration_ms, Some(2000), 100), "{info:?}");
    let video = info.video.as_ref().expect("video");
    assert_eq!(
        (
            video.codec.as_str(),
            video.width,
            video.height,
            video.rotation
        ),
        ("h264", 320, 240, 0)
    );
    assert_eq!(video.pix_fmt.as_deref(), Some("yuv420p"));
    assert_eq!(video.profile.as_deref(), Some("High"));
    assert!(video.fps.is_some_and(|fps| (fps - 25.0).abs() < 0.01));
    assert_eq!(video.frames, Some(50));
    assert!(!video.hdr);
    let audio = info.audio.as_ref().expect("audio");
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate, audio.channels),
        ("aac", 44_100, 1)
    );
    assert!(browser_playable(&info));
}

#[test]
fn transcodes_an_mpeg4_avi_to_a_playable_mp4() {
    let scratch = Scratch::new("avi");
    let avi = clip(
        &scratch,
        "clip.avi",
        &["-c:v", "mpeg4", "-c:a", "libmp3lame"],
    );
    let info = probe(&avi, &limits()).expect("probe");
    assert_eq!(info.format, "avi");
    assert_eq!(info.video.as_ref().map(|v| v.codec.as_str()), Some("mpeg4"));
    assert!(!browser_playable(&info));

    let out = scratch.path("proxy.mp4");
    let mut last = 0.0;
    let mut report = |fraction: f64| {
        assert!((0.0..=1.0).contains(&fraction) && fraction >= last);
        last = fraction;
    };
    transcode(
        &avi,
        &out,
        &info,
        ProxyTarget::Video,
        None,
        &limits(),
        &mut report,
    )
    .expect("transcode");
    assert!((last - 1.0).abs() < 1e-9);
    let proxy = probe(&out, &limits()).expect("probe proxy");
    assert!(browser_playable(&proxy), "{proxy:?}");
    let video = proxy.video.as_ref().expect("video");
    assert_eq!(
        (video.codec.as_str(), video.width, video.height),
        ("h264", 320, 240)
    );
    let audio = proxy.audio.as_ref().expect("audio");
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate, audio.channels),
        ("aac", 48_000, 2)
    );
    assert!(
        close(proxy.duration_ms, info.duration_ms, 100),
        "{proxy:?} {info:?}"
    );
}

#[test]
fn transcodes_audio_to_m4a() {
    let scratch = Scratch::new("m4a");
    let source = h264_mp4(&scratch);
    let info = probe(&source, &limits()).expect("probe");
    let out = scratch.path("proxy.m4a");
    transcode(
        &source,
        &out,
        &info,
        ProxyTarget::Audio,
        None,
        &limits(),
        &mut |_: f64| {},
    )
    .expect("transcode");
    let proxy = probe(&out, &limits()).expect("probe proxy");
    assert!(proxy.video.is_none());
    let audio = proxy.audio.as_ref().expect("audio");
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate, audio.channels),
        ("aac", 44_100, 1)
    );
    assert!(browser_playable(&proxy));
    assert!(
        close(proxy.duration_ms, info.duration_ms, 100),
        "{proxy:?} {info:?}"
    );
}

#[test]
fn posters_are_bounded_and_upright() {
    let scratch = Scratch::new("poster");
    let source = h264_mp4(&scratch);
    let info = probe(&source, &limits()).expect("probe");
    let image = poster(&source, &info, 160, &limits()).expect("poster");
    assert_eq!(image.dimensions(), (160, 120));
    assert!(mean_luma(&image) >= MIN_POSTER_LUMA);

    let rotated = scratch.path("rotated.mp4");
    ffmpeg(&[
        "-i",
        text(&source),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        text(&rotated),
    ]);
    let info = probe(&rotated, &limits()).expect("probe");
    assert_eq!(info.video.as_ref().map(|v| v.rotation), Some(270));
    let image = poster(&rotated, &info, 160, &limits()).expect("poster");
    assert_eq!(image.dimensions(), (120, 160));
}

#[test]
fn hdr_is_detected_and_tone_mapped() {
    let scratch = Scratch::new("hdr");
    let path = scratch.path("hdr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p10le",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error",
        "-color_trc",
        "smpte2084",
        "-color_primaries",
        "bt2020",
        "-colorspace",
        "bt2020nc",
        text(&path),
    ]);
    let info = probe(&path, &limits()).expect("probe");
    let video = info.video.as_ref().expect("video");
    assert!(video.hdr);
    assert_eq!(video.codec, "hevc");
    assert!(!browser_playable(&info));
    let image = poster(&path, &info, 64, &limits()).expect("poster");
    assert_eq!(image.dimensions(), (64, 48));
}

/// All of a file's sound as 16 kHz mono samples.
fn decode_16k_mono(path: &Path, limits: &Limits) -> Vec<f32> {
    let mut samples = Vec::new();
    stream_audio_16k_mono(path, limits, &mut |_: f64| {}, &mut samples).expect("decode");
    samples
}

#[test]
fn decodes_audio_to_16k_mono() {
    let scratch = Scratch::new("pcm");
    let source = h264_mp4(&scratch);
    let samples = decode_16k_mono(&source, &limits());
    assert!(
        samples.len().abs_diff(32_000) < 800,
        "{} samples",
        samples.len()
    );
    let peak = samples.iter().fold(0f32, |peak, s| peak.max(s.abs()));
    assert!(peak > 0.05 && peak <= 1.0, "peak {peak}");
    let short = Limits {
        max_duration: Duration::from_secs(1),
        ..limits()
    };
    let samples = decode_16k_mono(&source, &short);
    assert_eq!(samples.len(), 16_000);
}

#[test]
fn bad_files_are_invalid() {
    let scratch = Scratch::new("bad");
    let junk = scratch.path("junk.mp4");
    std::fs::write(&junk, "not a video at all\n".repeat(200)).expect("write");
    assert!(matches!(
        probe(&junk, &limits()),
        Err(MediaError::Invalid(_))
    ));
    let empty = scratch.path("empty.mkv");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(
        probe(&empty, &limits()),
        Err(MediaError::Invalid(_))
    ));
    let missing = scratch.path("missing.mp4");
    assert!(matches!(
        probe(&missing, &limits()),
        Err(MediaError::Invalid(_))
    ));

    let source = h264_mp4(&scratch);
    let bytes = std::fs::read(&source).expect("read");
    let cut = scratch.path("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    assert!(matches!(
        probe(&cut, &limits()),
        Err(MediaError::Invalid(_))
    ));

    // An HLS playlist (whatever its name) must not pull another file in.
    let playlist = scratch.path("playlist.bin");
    let hls = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{}\n#EXT-X-ENDLIST\n",
        source.display()
    );
    std::fs::write(&playlist, hls).expect("write");
    assert!(matches!(
        probe(&playlist, &limits()),
        Err(MediaError::Invalid(_))
    ));
}

#[test]
fn limits_apply_before_decoding() {
    let scratch = Scratch::new("limits");
    let source = h264_mp4(&scratch);
    let late = Limits {
        deadline: Instant::now(),
        ..limits()
    };
    assert_eq!(probe(&source, &late), Err(MediaError::TimedOut));
    let narrow = Limits {
        max_dimension: 100,
        ..limits()
    };
    assert!(matches!(
        probe(&source, &narrow),
        Err(MediaError::TooLarge(_))
    ));
    let short = Limits {
        max_duration: Duration::from_secs(1),
        ..limits()
    };
    assert!(matches!(
        probe(&source, &short),
        Err(MediaError::TooLarge(_))
    ));
    let few = Limits {
        max_frames: 10,
        ..limits()
    };
    assert!(matches!(probe(&source, &few), Err(MediaError::TooLarge(_))));
}

#[test]
fn knows_what_browsers_play() {
    let video = |codec: &str, pix_fmt: &str| VideoStream {
        codec: codec.into(),
        profile: None,
        pix_fmt: Some(pix_fmt.into()),
        width: 1920,
        height: 1080,
        fps: Some(30.0),
        rotation: 0,
        hdr: false,
        bitrate: None,
        frames: None,
    };
    let audio = |codec: &str| AudioStream {
        codec: codec.into(),
        sample_rate: 48_000,
        channels: 2,
        bitrate: None,
    };
    let info = |format: &str, video: Option<VideoStream>, audio: Option<AudioStream>| AvInfo {
        format: format.into(),
        duration_ms: Some(1000),
        bitrate: None,
        video,
        audio,
        creation_time: None,
        gps: None,
        damage: None,
    };
    let h264 = || Some(video("h264", "yuv420p"));
    assert!(browser_playable(&info(MP4, h264(), Some(audio("aac")))));
    assert!(browser_playable(&info(MP4, h264(), None)));
    assert!(!browser_playable(&info(MP4, h264(), Some(audio("ac3")))));
    assert!(!browser_playable(&info(
        MP4,
        Some(video("h264", "yuv420p10le")),
        None
    )));
    assert!(!browser_playable(&info(
        MP4,
        Some(video("hevc", "yuv420p")),
        None
    )));
    assert!(!browser_playable(&info("avi", h264(), None)));
    let webm = "matroska,webm";
    assert!(browser_playable(&info(
        webm,
        Some(video("vp9", "yuv420p")),
        Some(audio("opus"))
    )));
    assert!(!browser_playable(&info(webm, h264(), None)));
    assert!(browser_playable(&info("mp3", None, Some(audio("mp3")))));
    assert!(browser_playable(&info(MP4, None, Some(audio("aac")))));
    assert!(browser_playable(&info(
        "wav",
        None,
        Some(audio("pcm_s16le"))
    )));
    assert!(!browser_playable(&info(
        "wav",
        None,
        Some(audio("pcm_s24le"))
    )));
    assert!(!browser_playable(&info("asf", None, Some(audio("wmav2")))));
    assert!(!browser_playable(&info("amr", None, Some(audio("amrnb")))));
    assert!(!browser_playable(&info(MP4, None, None)));
}

#[test]
fn damaged_files_say_so_and_keep_what_plays() {
    let scratch = Scratch::new("damaged");
    let codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"];
    let whole = clip(
        &scratch,
        "whole.mp4",
        &[&codecs[..], &["-movflags", "+faststart"]].concat(),
    );
    let info = probe(&whole, &limits()).expect("whole");
    assert_eq!(info.damage, None);
    assert!(browser_playable(&info));

    // The index (moov, up front) is intact, the media data is cut at 60 %.
    let bytes = std::fs::read(&whole).expect("read");
    let cut = scratch.path("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).expect("write");
    let info = probe(&cut, &limits()).expect("a cut file still probes");
    let damage = info.damage.clone().expect("the cut is found");
    assert!(damage.contains("cut short"), "{damage}");
    let ms = info.duration_ms.expect("the part that plays");
    assert!(ms > 200 && ms < 1800, "{ms} ms of 2000");
    assert!(!browser_playable(&info), "a proxy is made of what plays");
    let frame = poster(&cut, &info, 240, &limits()).expect("a poster from what plays");
    assert!(frame.width() > 0);

    // A header claiming 49 days over two seconds of streams.
    let mut bytes = std::fs::read(h264_mp4(&scratch)).expect("read");
    let mvhd = bytes.windows(4).position(|w| w == b"mvhd").expect("mvhd") + 4;
    assert_eq!(bytes[mvhd], 0, "a version 0 mvhd");
    bytes[mvhd + 16..mvhd + 20].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    let absurd = scratch.path("absurd.mp4");
    std::fs::write(&absurd, &bytes).expect("write");
    let info = probe(&absurd, &limits()).expect("measured, not refused");
    assert!(
        close(info.duration_ms, Some(2000), 100),
        "{:?}",
        info.duration_ms
    );
    assert!(
        info.damage
            .as_deref()
            .is_some_and(|d| d.contains("header says")),
        "{info:?}"
    );
    let short = Limits {
        max_duration: Duration::from_secs(1),
        ..limits()
    };
    assert!(
        matches!(probe(&absurd, &short), Err(MediaError::TooLarge(_))),
        "streams that really run past the limit are still refused"
    );
}
