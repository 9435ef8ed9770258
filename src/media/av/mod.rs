//! The FFmpeg side of the media stage (the system's FFmpeg 5.1, through rsmpeg): probing video
//! and audio files, poster frames, browser-playable proxies and 16 kHz mono audio.
//!
//! Inputs are opened with an interrupt callback that aborts blocking reads at the job's deadline,
//! with only the `file` protocol and a list of ordinary media demuxers, so a hostile playlist
//! (HLS, concat) cannot pull other files or URLs into a proxy. Corrupt packets are skipped; a
//! file with nothing decodable is `Invalid`.

use std::ffi::{CStr, CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rsmpeg::avcodec::AVCodec;
use rsmpeg::avformat::AVStream;
use rsmpeg::avutil::{AVFrame, AVRational, av_rescale_q};
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;
use serde::Serialize;

use super::exif::Gps;
use super::{Limits, MediaError, iso6709};

mod audio;
mod input;
mod integrity;
mod poster;
mod transcode;
mod video;

pub use audio::{SampleSink, stream_audio_16k_mono};
use input::Input;
pub use poster::poster;
pub use transcode::transcode;

const VIDEO: ffi::AVMediaType = ffi::AVMediaType_AVMEDIA_TYPE_VIDEO;

const AUDIO: ffi::AVMediaType = ffi::AVMediaType_AVMEDIA_TYPE_AUDIO;

/// The demuxers inputs may use: audio and video containers, none that opens other files.
const DEMUXERS: &CStr = c"mov,matroska,avi,mpegts,mpeg,mpegvideo,flv,asf,ogg,rm,dv,mxf,nut,m4v,h264,hevc,ivf,obu,wtv,mp3,aac,loas,flac,wav,w64,aiff,caf,ape,wv,tta,ac3,eac3,dts,truehd,mlp,amr,au,mpc,mpc8,tak,dsf,xwma";

/// The linked FFmpeg's libavcodec version and which proxy encoders it lacks, for `doctor`.
pub fn linked_ffmpeg() -> (String, Vec<&'static str>) {
    // SAFETY: avcodec_version only reads a constant.
    let v = unsafe { rsmpeg::ffi::avcodec_version() };
    let version = format!("libavcodec {}.{}.{}", v >> 16, (v >> 8) & 0xFF, v & 0xFF);
    let missing = [(c"libx264", "libx264 (H.264)"), (c"aac", "aac")]
        .into_iter()
        .filter(|(name, _)| AVCodec::find_encoder_by_name(name).is_none())
        .map(|(_, label)| label)
        .collect();
    (version, missing)
}

/// What a probe of a video or audio file found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvInfo {
    /// FFmpeg's short name of the container, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    pub format: String,
    /// Duration of the whole file.
    pub duration_ms: Option<i64>,
    /// Overall bitrate, bits per second.
    pub bitrate: Option<i64>,
    /// The main video stream (cover art does not count).
    pub video: Option<VideoStream>,
    /// The main audio stream.
    pub audio: Option<AudioStream>,
    /// The container's `creation_time` tag (ISO 8601, UTC), as cameras and phones write it.
    pub creation_time: Option<String>,
    /// Where it was recorded: the ISO 6709 location phones write (QuickTime `©xyz` or Apple's
    /// `com.apple.quicktime.location.ISO6709`), in the same fields as a photo's GPS.
    pub gps: Option<Gps>,
    /// What is wrong with the file when it is not what its header says (cut short, or a
    /// duration far beyond what its streams hold); `duration_ms` is then the part that plays.
    pub damage: Option<String>,
}

/// The main video stream of a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoStream {
    /// FFmpeg's codec name: "h264", "hevc", "mpeg4", "vp9", "av1"...
    pub codec: String,
    /// Codec profile, e.g. "High" or "Main 10".
    pub profile: Option<String>,
    /// Pixel format, e.g. "yuv420p" or "yuv420p10le".
    pub pix_fmt: Option<String>,
    /// Coded width in pixels, before rotation.
    pub width: u32,
    /// Coded height in pixels, before rotation.
    pub height: u32,
    /// Frames per second, as FFmpeg guesses it.
    pub fps: Option<f64>,
    /// Degrees clockwise (0, 90, 180 or 270) to turn the picture to show it upright.
    pub rotation: i32,
    /// Whether the transfer function is HDR (PQ or HLG).
    pub hdr: bool,
    /// Stream bitrate, bits per second.
    pub bitrate: Option<i64>,
    /// Frame count the container declares.
    pub frames: Option<i64>,
}

/// The main audio stream of a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioStream {
    /// FFmpeg's codec name: "aac", "mp3", "opus", "pcm_s16le"...
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u32,
    /// Stream bitrate, bits per second.
    pub bitrate: Option<i64>,
}

/// What a browser-playable proxy should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyTarget {
    /// H.264 (libx264 veryfast, CRF 23, yuv420p, short side at most 1080 px keeping the aspect,
    /// even sizes, turned upright) plus AAC 128k stereo 48 kHz if the source has sound, in a
    /// faststart MP4.
    Video,
    /// AAC 128k (mono or stereo as the source, 44.1 or 48 kHz) in a faststart MP4 (.m4a).
    Audio,
}

/// Opens and probes `path`, checking duration, picture size and declared frame count against
/// `limits` before anything is decoded. A file cut short, or whose header claims more than the
/// duration limit while its streams hold less, is described in `damage` with the duration of
/// the part that plays.
pub fn probe(path: &Path, limits: &Limits) -> Result<AvInfo, MediaError> {
    let mut input = Input::open(path, limits)?;
    let streams: Vec<usize> = [input.best_stream(VIDEO), input.best_stream(AUDIO)]
        .into_iter()
        .flatten()
        .collect();
    let tag = |key: &CStr| {
        let metadata = input.ctx.metadata()?;
        let entry = metadata.get(key, None, 0)?;
        Some(entry.value().to_string_lossy().into_owned())
    };
    let stream = |kind| {
        input
            .best_stream(kind)
            .and_then(|index| input.stream(index))
    };
    let mut info = AvInfo {
        format: c_string(input.ctx.iformat().name).unwrap_or_default(),
        duration_ms: input.duration_us().map(|us| us / 1000),
        bitrate: (input.ctx.bit_rate > 0).then_some(input.ctx.bit_rate),
        video: stream(VIDEO).map(|st| video_stream(&st)),
        audio: stream(AUDIO).map(|st| audio_stream(&st)),
        creation_time: tag(c"creation_time"),
        gps: [c"com.apple.quicktime.location.ISO6709", c"location"]
            .into_iter()
            .find_map(|key| iso6709::parse(&tag(key)?)),
        damage: None,
    };
    if info.video.is_none() && info.audio.is_none() {
        return Err(MediaError::Invalid("no audio or video stream".into()));
    }
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let len = std::fs::metadata(path).map_or(u64::MAX, |m| m.len());
    if let Some(us) = integrity::cut_short_at(&input, &streams, len) {
        let stated = info.duration_ms.map_or(String::new(), |ms| {
            format!(" of the {:.1} s its index lists", seconds(ms))
        });
        info.damage = Some(format!(
            "the file is cut short: its media data stops after {:.1} s{stated}",
            seconds(us / 1000)
        ));
        info.duration_ms = Some(us / 1000);
    }
    let max_ms = i64::try_from(limits.max_duration.as_millis()).unwrap_or(i64::MAX);
    if let Some(ms) = info.duration_ms
        && ms > max_ms
    {
        // A header may lie: what the streams hold decides.
        match integrity::measured_us(&mut input, &streams, limits, max_ms.saturating_mul(1000))? {
            Some(us) => {
                info.damage = Some(format!(
                    "the header says it lasts {:.0} s, but its streams hold {:.1} s",
                    seconds(ms),
                    seconds(us / 1000)
                ));
                info.duration_ms = Some(us / 1000);
            }
            None => {
                return Err(MediaError::TooLarge(format!(
                    "{} s is over the {} s duration limit",
                    ms / 1000,
                    max_ms / 1000
                )));
            }
        }
    }
    if let Some(video) = &info.video {
        limits.check_size(video.width, video.height)?;
        if let Some(frames) = video.frames
            && u64::try_from(frames).is_ok_and(|frames| frames > limits.max_frames)
        {
            return Err(MediaError::TooLarge(format!(
                "{frames} frames is over the {} frame limit",
                limits.max_frames
            )));
        }
    }
    Ok(info)
}

/// Whether Chromium, Firefox and Safari play the file as it is: H.264 (8-bit 4:2:0) or
/// VP8/VP9/AV1 in MP4/MOV/WebM with AAC/MP3/Opus/Vorbis/FLAC or no sound, or audio alone as
/// MP3, AAC, FLAC, Opus, Vorbis or 8/16-bit integer or float WAV; never a damaged file.
pub fn browser_playable(info: &AvInfo) -> bool {
    if info.damage.is_some() {
        // Browsers stall at the damage or show the header's length: a proxy of what plays.
        return false;
    }
    let container = |name: &str| info.format.split(',').any(|part| part == name);
    let (mp4, webm) = (container("mp4"), container("webm"));
    let audio = info.audio.as_ref().map(|audio| audio.codec.as_str());
    match &info.video {
        Some(video) => {
            let codec_ok = match video.codec.as_str() {
                "h264" => mp4,
                "vp8" | "vp9" | "av1" => mp4 || webm,
                _ => false,
            };
            let audio_ok = match audio {
                None => true,
                Some(codec) if mp4 => matches!(codec, "aac" | "mp3" | "opus" | "flac"),
                Some(codec) => matches!(codec, "opus" | "vorbis"),
            };
            codec_ok
                && audio_ok
                && !video.hdr
                && matches!(video.pix_fmt.as_deref(), Some("yuv420p" | "yuvj420p"))
        }
        None => match audio {
            Some(codec) if mp4 => matches!(codec, "aac" | "mp3" | "opus" | "flac"),
            Some(codec) if webm => matches!(codec, "opus" | "vorbis"),
            Some(codec) => matches!(
                (info.format.as_str(), codec),
                ("mp3", "mp3")
                    | ("aac", "aac")
                    | ("flac", "flac")
                    | ("ogg", "opus" | "vorbis")
                    | ("wav", "pcm_s16le" | "pcm_u8" | "pcm_f32le")
            ),
            None => false,
        },
    }
}

/// `path` as an FFmpeg URL for the file protocol (no other protocol can be read into it).
fn file_url(path: &Path) -> Result<CString, MediaError> {
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    CString::new(url).map_err(|_| MediaError::Invalid("the path contains a NUL byte".into()))
}

/// Describes a video stream for [`AvInfo`].
fn video_stream(st: &AVStream) -> VideoStream {
    let par = st.codecpar();
    VideoStream {
        codec: codec_name(par.codec_id),
        // SAFETY: both return null or a static string, whatever the arguments.
        profile: c_string(unsafe { ffi::avcodec_profile_name(par.codec_id, par.profile) }),
        pix_fmt: c_string(unsafe { ffi::av_get_pix_fmt_name(par.format) }),
        width: u32::try_from(par.width).unwrap_or(0),
        height: u32::try_from(par.height).unwrap_or(0),
        fps: st.guess_framerate().and_then(rate),
        rotation: rotation(st),
        hdr: tonemap_transfer(par.color_trc).is_some(),
        bitrate: (par.bit_rate > 0).then_some(par.bit_rate),
        frames: (st.nb_frames > 0).then_some(st.nb_frames),
    }
}

/// Describes an audio stream for [`AvInfo`].
fn audio_stream(st: &AVStream) -> AudioStream {
    let par = st.codecpar();
    AudioStream {
        codec: codec_name(par.codec_id),
        sample_rate: u32::try_from(par.sample_rate).unwrap_or(0),
        channels: u32::try_from(par.ch_layout.nb_channels).unwrap_or(0),
        bitrate: (par.bit_rate > 0).then_some(par.bit_rate),
    }
}

/// Degrees clockwise to show the stream upright, from its display matrix.
fn rotation(st: &AVStream) -> i32 {
    let mut size: usize = 0;
    // SAFETY: reads the stream's side data, valid while the stream is.
    let matrix = unsafe {
        ffi::av_stream_get_side_data(
            st.as_ptr(),
            ffi::AVPacketSideDataType_AV_PKT_DATA_DISPLAYMATRIX,
            &mut size,
        )
    };
    if matrix.is_null() || size < 9 * size_of::<i32>() {
        return 0;
    }
    // SAFETY: the side data holds the nine 32-bit entries of a display matrix.
    let counter_clockwise = unsafe { ffi::av_display_rotation_get(matrix.cast::<i32>()) };
    if !counter_clockwise.is_finite() {
        return 0;
    }
    // The nearest quarter turn (the angle is within -180..=180).
    let quarters = (-counter_clockwise / 90.0).round() as i32;
    (quarters * 90).rem_euclid(360)
}

/// zscale's name for an HDR transfer function (PQ or HLG); None for SDR.
fn tonemap_transfer(trc: ffi::AVColorTransferCharacteristic) -> Option<&'static str> {
    match trc {
        ffi::AVColorTransferCharacteristic_AVCOL_TRC_SMPTE2084 => Some("smpte2084"),
        ffi::AVColorTransferCharacteristic_AVCOL_TRC_ARIB_STD_B67 => Some("arib-std-b67"),
        _ => None,
    }
}

/// A positive rational as a float.
fn rate(r: AVRational) -> Option<f64> {
    if r.num > 0 && r.den > 0 {
        Some(f64::from(r.num) / f64::from(r.den))
    } else {
        None
    }
}

/// FFmpeg's name of a codec.
fn codec_name(id: ffi::AVCodecID) -> String {
    // SAFETY: returns a static string for any id.
    c_string(unsafe { ffi::avcodec_get_name(id) }).unwrap_or_else(|| "unknown".into())
}

/// A string FFmpeg returned; None for null.
fn c_string(text: *const c_char) -> Option<String> {
    // SAFETY: FFmpeg's name getters return null or a NUL-terminated string that outlives this.
    (!text.is_null()).then(|| {
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

/// An rsmpeg error in words.
fn describe(err: &RsmpegError) -> String {
    match err.raw_error() {
        Some(code) => ffi::av_err2str(code),
        None => err.to_string(),
    }
}

/// Maps an rsmpeg error while doing `what`: the interrupt callback's exit is a timeout,
/// anything else means the media is unreadable.
fn ff(what: &'static str) -> impl Fn(RsmpegError) -> MediaError {
    move |err: RsmpegError| match err.raw_error() {
        Some(ffi::AVERROR_EXIT) => MediaError::TimedOut,
        _ => MediaError::Invalid(format!("{what}: {}", describe(&err))),
    }
}

/// Maps a raw FFmpeg return code like [`ff`].
fn check(ret: c_int, what: &str) -> Result<(), MediaError> {
    if ret >= 0 {
        Ok(())
    } else if ret == ffi::AVERROR_EXIT {
        Err(MediaError::TimedOut)
    } else {
        Err(MediaError::Invalid(format!(
            "{what}: {}",
            ffi::av_err2str(ret)
        )))
    }
}

/// A frame's timestamp in microseconds, if it has one.
fn frame_us(frame: &AVFrame, time_base: AVRational) -> Option<i64> {
    let ts = frame.best_effort_timestamp;
    (ts != ffi::AV_NOPTS_VALUE).then(|| av_rescale_q(ts, time_base, ffi::AV_TIME_BASE_Q))
}

/// Reports progress to the caller in steps of at least 1 %.
struct Progress<'a> {
    report: &'a mut dyn FnMut(f64),
    pub(super) duration_us: Option<i64>,
    last: f64,
}

impl Progress<'_> {
    /// The output has got `us` microseconds in.
    fn at(&mut self, us: i64) {
        let Some(duration) = self.duration_us.filter(|total| *total > 0) else {
            return;
        };
        let fraction = (us as f64 / duration as f64).clamp(0.0, 1.0);
        if fraction >= self.last + 0.01 {
            self.last = fraction;
            (self.report)(fraction);
        }
    }

    fn done(&mut self) {
        (self.report)(1.0);
    }
}

#[cfg(test)]
mod tests;
