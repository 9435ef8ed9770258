//! The FFmpeg side of the media stage (the system's FFmpeg 5.1, through rsmpeg): probing video
//! and audio files, poster frames, browser-playable proxies and 16 kHz mono audio.
//!
//! Inputs are opened with an interrupt callback that aborts blocking reads at the job's deadline,
//! with only the `file` protocol and a list of ordinary media demuxers, so a hostile playlist
//! (HLS, concat) cannot pull other files or URLs into a proxy. Corrupt packets are skipped; a
//! file with nothing decodable is `Invalid`.

use std::cmp::Reverse;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Instant;

use ::image::RgbImage;
use rsmpeg::UnsafeDerefMut;
use rsmpeg::avcodec::{AVCodec, AVCodecContext, AVPacket};
use rsmpeg::avfilter::{AVFilter, AVFilterGraph, AVFilterInOut};
use rsmpeg::avformat::{AVFormatContextInput, AVFormatContextOutput, AVStream, AVStreamRef};
use rsmpeg::avutil::{AVAudioFifo, AVDictionary, AVFrame, AVRational, av_inv_q, av_rescale_q, ra};
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;
use rsmpeg::swresample::SwrContext;
use serde::Serialize;

use super::{Limits, MediaError};

const VIDEO: ffi::AVMediaType = ffi::AVMediaType_AVMEDIA_TYPE_VIDEO;
const AUDIO: ffi::AVMediaType = ffi::AVMediaType_AVMEDIA_TYPE_AUDIO;
const FLTP: ffi::AVSampleFormat = ffi::AVSampleFormat_AV_SAMPLE_FMT_FLTP;
const AVERROR_ENOMEM: c_int = ffi::AVERROR(ffi::ENOMEM);

/// The demuxers inputs may use: audio and video containers, none that opens other files.
const DEMUXERS: &CStr = c"mov,matroska,avi,mpegts,mpeg,mpegvideo,flv,asf,ogg,rm,dv,mxf,nut,m4v,h264,hevc,ivf,obu,wtv,mp3,aac,loas,flac,wav,w64,aiff,caf,ape,wv,tta,ac3,eac3,dts,truehd,mlp,amr,au,mpc,mpc8,tak,dsf,xwma";

/// Posters darker than this mean luma (0..255) are passed over for a later frame.
const MIN_POSTER_LUMA: f64 = 16.0;
/// Candidate poster frames tried, spread over the start of the video.
const POSTER_TRIES: i64 = 10;
/// Frames decoded after a seek while waiting for the target time, before taking what comes.
const MAX_FRAMES_PER_SEEK: usize = 300;
/// Bitrate of the proxies' AAC audio.
const PROXY_AUDIO_BITRATE: i64 = 128_000;

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
/// `limits` before anything is decoded.
pub fn probe(path: &Path, limits: &Limits) -> Result<AvInfo, MediaError> {
    let input = Input::open(path, limits)?;
    let video = input
        .best_stream(VIDEO)
        .and_then(|index| input.stream(index));
    let audio = input
        .best_stream(AUDIO)
        .and_then(|index| input.stream(index));
    if video.is_none() && audio.is_none() {
        return Err(MediaError::Invalid("no audio or video stream".into()));
    }
    let info = AvInfo {
        format: c_string(input.ctx.iformat().name).unwrap_or_default(),
        duration_ms: input.duration_us().map(|us| us / 1000),
        bitrate: (input.ctx.bit_rate > 0).then_some(input.ctx.bit_rate),
        video: video.map(|st| video_stream(&st)),
        audio: audio.map(|st| audio_stream(&st)),
        creation_time: input.ctx.metadata().and_then(|m| {
            m.get(c"creation_time", None, 0)
                .map(|e| e.value().to_string_lossy().into_owned())
        }),
    };
    let max_ms = i64::try_from(limits.max_duration.as_millis()).unwrap_or(i64::MAX);
    if let Some(ms) = info.duration_ms
        && ms > max_ms
    {
        return Err(MediaError::TooLarge(format!(
            "{} s is over the {} s duration limit",
            ms / 1000,
            max_ms / 1000
        )));
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
/// MP3, AAC, FLAC, Opus, Vorbis or 8/16-bit integer or float WAV.
pub fn browser_playable(info: &AvInfo) -> bool {
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

/// A poster frame, upright and at most `max_side` px on its long side: the first frame that is
/// not near-black among ten spread over the first 10 % (at most 30 s) from about 1 s in, else
/// the brightest of them. HDR is tone-mapped to SDR BT.709 when FFmpeg has zscale.
pub fn poster(
    path: &Path,
    info: &AvInfo,
    max_side: u32,
    limits: &Limits,
) -> Result<RgbImage, MediaError> {
    let rotation = info
        .video
        .as_ref()
        .map(|video| video.rotation)
        .ok_or_else(|| MediaError::Unsupported("no video stream".into()))?;
    let (mut frames, source) = open_video(path, rotation, limits)?;
    let side = f64::from(max_side.max(1));
    let (width, height) = fit(source.display, (side, side), false);
    let chain = filter_chain(rotation, source.tonemap, width, height, "rgb24");
    let mut pipe = VideoPipe::new(&chain, source.time_base)?;

    let mut best: Option<(f64, RgbImage)> = None;
    for target in poster_targets(frames.input.start_us(), info.duration_ms) {
        frames.seek(target);
        let Some(frame) = frame_at(&mut frames, target, source.time_base, limits)? else {
            break;
        };
        for picture in pipe.run(frame)? {
            let image = rgb_image(&picture)?;
            let luma = mean_luma(&image);
            if luma >= MIN_POSTER_LUMA {
                return Ok(image);
            }
            if best.as_ref().is_none_or(|(brightest, _)| luma > *brightest) {
                best = Some((luma, image));
            }
        }
    }
    if let Some((_, image)) = best {
        return Ok(image);
    }
    // Nothing at the targets (the file is shorter than it says, or cannot seek): its first frame.
    let (mut frames, _) = open_video(path, rotation, limits)?;
    while let Some((_, frame)) = frames.next_frame(limits)? {
        if let Some(picture) = pipe.run(frame)?.first() {
            return rgb_image(picture);
        }
    }
    Err(nothing_decoded("video", &frames))
}

/// Transcodes `path` into a browser-playable MP4 at `out`, reporting 0.0..=1.0 to `progress`
/// as output timestamps advance over the duration. On error `out` is left for the caller.
pub fn transcode(
    path: &Path,
    out: &Path,
    info: &AvInfo,
    target: ProxyTarget,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<(), MediaError> {
    let input = Input::open(path, limits)?;
    let video = match target {
        ProxyTarget::Video => {
            let rotation = info.video.as_ref().map_or(0, |video| video.rotation);
            Some((VideoSource::of(&input, rotation, limits)?, rotation))
        }
        ProxyTarget::Audio => None,
    };
    let audio = input.best_stream(AUDIO);
    if video.is_none() && audio.is_none() {
        return Err(MediaError::Invalid("no audio stream".into()));
    }
    let start_us = input.start_us();
    let duration_us = info
        .duration_ms
        .filter(|ms| *ms > 0)
        .map(|ms| ms.saturating_mul(1000))
        .or_else(|| input.duration_us());

    let mut output = Output::create(out)?;
    // Decoders and lanes go in the same order: a frame from decoder n goes to lane n.
    let mut decoders = Vec::new();
    let mut lanes = Vec::new();
    if let Some((source, rotation)) = video {
        decoders.push(Decoder::open(&input, source.index, limits)?);
        lanes.push(Lane::Video(VideoLane::new(
            &mut output,
            &source,
            rotation,
            start_us,
        )?));
    }
    if let Some(index) = audio {
        match Decoder::open(&input, index, limits) {
            Ok(decoder) => {
                lanes.push(Lane::Audio(AudioLane::new(
                    &mut output,
                    &decoder,
                    target,
                    start_us,
                )?));
                decoders.push(decoder);
            }
            // A silent proxy beats none when FFmpeg cannot decode the sound.
            Err(MediaError::Unsupported(why)) if !lanes.is_empty() => {
                tracing::warn!("proxy of {} without sound: {why}", path.display());
            }
            Err(err) => return Err(err),
        }
    }

    let mut options = Some(AVDictionary::new(c"movflags", c"+faststart", 0));
    output
        .ctx
        .write_header(&mut options)
        .map_err(ff("writing the proxy"))?;
    for lane in &mut lanes {
        let encoder = lane.encoder();
        encoder.stream_tb = output.time_base(encoder.stream)?;
    }

    let max_us = i64::try_from(limits.max_duration.as_micros()).unwrap_or(i64::MAX);
    let mut progress = Progress {
        report: progress,
        duration_us,
        last: 0.0,
    };
    let mut frames = Frames::new(input, decoders);
    while let Some((slot, frame)) = frames.next_frame(limits)? {
        let Some(lane) = lanes.get_mut(slot) else {
            continue;
        };
        let at = lane.push(frame, &mut output, limits)?;
        if at > max_us {
            return Err(MediaError::TooLarge(format!(
                "longer than the {} s duration limit",
                max_us / 1_000_000
            )));
        }
        progress.at(at);
    }
    let silent_video = lanes
        .iter()
        .any(|lane| matches!(lane, Lane::Video(video) if video.frames == 0));
    if silent_video || lanes.iter().all(Lane::is_empty) {
        let what = if silent_video { "video" } else { "audio" };
        return Err(nothing_decoded(what, &frames));
    }
    for lane in &mut lanes {
        lane.finish(&mut output)?;
    }
    output
        .ctx
        .write_trailer()
        .map_err(ff("finishing the proxy"))?;
    progress.done();
    Ok(())
}

/// Decodes the main audio stream to 16 kHz mono samples in -1..1, at most `limits.max_duration`
/// of them, reporting 0.0..=1.0 to `progress`.
pub fn decode_audio_16k_mono(
    path: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<Vec<f32>, MediaError> {
    const RATE: c_int = 16_000;
    let input = Input::open(path, limits)?;
    let index = input
        .best_stream(AUDIO)
        .ok_or_else(|| MediaError::Invalid("no audio stream".into()))?;
    let decoder = Decoder::open(&input, index, limits)?;
    let time_base = decoder.time_base;
    let start_us = input.start_us();
    let mut progress = Progress {
        report: progress,
        duration_us: input.duration_us(),
        last: 0.0,
    };
    let max = (limits.max_duration.as_secs_f64() * f64::from(RATE)) as usize;
    let mut frames = Frames::new(input, vec![decoder]);
    let mut resampler = Resampler::new(RATE, 1);
    let mut samples = Vec::new();
    loop {
        let frame = frames.next_frame(limits)?.map(|(_, frame)| frame);
        let converted = usize::try_from(resampler.convert(frame.as_ref())?).unwrap_or(0);
        let room = max.saturating_sub(samples.len());
        if let Some(plane) = resampler.planes.first() {
            samples.extend(plane.iter().take(converted.min(room)).map(|sample| {
                if sample.is_finite() {
                    sample.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
        }
        let Some(frame) = frame else {
            break;
        };
        if samples.len() >= max {
            break;
        }
        if let Some(us) = frame_us(&frame, time_base) {
            progress.at(us.saturating_sub(start_us));
        }
    }
    if samples.is_empty() {
        return Err(nothing_decoded("audio", &frames));
    }
    progress.done();
    Ok(samples)
}

/// An open input file. Blocking reads give up with `AVERROR_EXIT` once the deadline passes.
struct Input {
    ctx: AVFormatContextInput,
    /// The deadline the interrupt callback reads; declared after `ctx` so it outlives it.
    _deadline: Box<Instant>,
}

/// FFmpeg's interrupt callback: non-zero makes the blocking call fail with `AVERROR_EXIT`.
unsafe extern "C" fn past_deadline(opaque: *mut c_void) -> c_int {
    // SAFETY: `opaque` is the `Input::_deadline` box, which outlives the format context.
    let deadline = unsafe { &*opaque.cast::<Instant>() };
    c_int::from(Instant::now() >= *deadline)
}

impl Input {
    /// Opens `path` (file protocol and media demuxers only) and reads its stream information.
    fn open(path: &Path, limits: &Limits) -> Result<Input, MediaError> {
        limits.check_time()?;
        let url = file_url(path)?;
        let deadline = Box::new(limits.deadline);
        let opaque: *const Instant = &*deadline;
        // SAFETY: allocates an empty context.
        let mut raw = unsafe { ffi::avformat_alloc_context() };
        if raw.is_null() {
            return Err(MediaError::Invalid("FFmpeg ran out of memory".into()));
        }
        // SAFETY: `raw` is a fresh context. The callback's `opaque` points into `deadline`,
        // which the returned Input keeps until after the context is closed.
        unsafe {
            (*raw).interrupt_callback = ffi::AVIOInterruptCB {
                callback: Some(past_deadline),
                opaque: opaque.cast_mut().cast::<c_void>(),
            };
        }
        let mut options: *mut ffi::AVDictionary = ptr::null_mut();
        // SAFETY: valid pointers throughout; on failure avformat_open_input frees `raw` and
        // sets it to null.
        let ret = unsafe {
            ffi::av_dict_set(
                &mut options,
                c"protocol_whitelist".as_ptr(),
                c"file".as_ptr(),
                0,
            );
            ffi::av_dict_set(
                &mut options,
                c"format_whitelist".as_ptr(),
                DEMUXERS.as_ptr(),
                0,
            );
            let ret = ffi::avformat_open_input(&mut raw, url.as_ptr(), ptr::null(), &mut options);
            ffi::av_dict_free(&mut options);
            ret
        };
        check(ret, "not a readable audio or video file")?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| MediaError::Invalid("not a readable audio or video file".into()))?;
        // SAFETY: `raw` is an open input context, closed when `ctx` drops.
        let mut ctx = unsafe { AVFormatContextInput::from_raw(raw) };
        // SAFETY: a plain call on the open context.
        let ret = unsafe { ffi::avformat_find_stream_info(ctx.as_mut_ptr(), ptr::null_mut()) };
        check(ret, "reading the streams")?;
        Ok(Input {
            ctx,
            _deadline: deadline,
        })
    }

    /// Stream `index`, or None; never panics on a file without streams.
    fn stream(&self, index: usize) -> Option<AVStreamRef<'_>> {
        let count = usize::try_from(self.ctx.nb_streams).unwrap_or(0);
        if index >= count || self.ctx.streams.is_null() {
            return None;
        }
        self.ctx.streams().get(index)
    }

    /// The main stream of `kind`: not cover art, preferably the default one, else the first.
    fn best_stream(&self, kind: ffi::AVMediaType) -> Option<usize> {
        let count = usize::try_from(self.ctx.nb_streams).unwrap_or(0);
        (0..count)
            .filter_map(|index| {
                let st = self.stream(index)?;
                let par = st.codecpar();
                let usable = par.codec_type == kind
                    && (st.disposition & ffi::AV_DISPOSITION_ATTACHED_PIC as c_int) == 0
                    && (kind != AUDIO || (par.sample_rate > 0 && par.ch_layout.nb_channels > 0));
                let default = (st.disposition & ffi::AV_DISPOSITION_DEFAULT as c_int) != 0;
                usable.then_some((default, Reverse(index)))
            })
            .max()
            .map(|(_, Reverse(index))| index)
    }

    /// When the file starts, in microseconds (usually 0).
    fn start_us(&self) -> i64 {
        if self.ctx.start_time == ffi::AV_NOPTS_VALUE {
            0
        } else {
            self.ctx.start_time
        }
    }

    /// How long the file is, in microseconds, if known.
    fn duration_us(&self) -> Option<i64> {
        (self.ctx.duration > 0).then_some(self.ctx.duration)
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

/// The error for a stream of which not one frame decoded, with the last reason FFmpeg gave.
fn nothing_decoded(what: &str, frames: &Frames) -> MediaError {
    let why = frames
        .decoders
        .iter()
        .find_map(|decoder| decoder.last_error.clone())
        .or_else(|| frames.read_error.clone());
    MediaError::Invalid(match why {
        Some(why) => format!("no decodable {what}: {why}"),
        None => format!("no decodable {what}"),
    })
}

/// A frame's timestamp in microseconds, if it has one.
fn frame_us(frame: &AVFrame, time_base: AVRational) -> Option<i64> {
    let ts = frame.best_effort_timestamp;
    (ts != ffi::AV_NOPTS_VALUE).then(|| av_rescale_q(ts, time_base, ffi::AV_TIME_BASE_Q))
}

/// A decoder for one input stream; corrupt packets are skipped, not fatal.
struct Decoder {
    ctx: AVCodecContext,
    /// Index of the input stream it decodes.
    stream: usize,
    /// The stream's time base, which decoded timestamps are in.
    time_base: AVRational,
    /// The end of the stream was sent.
    draining: bool,
    /// The last frame came out.
    done: bool,
    /// The last decoding error, for the message if nothing decodes at all.
    last_error: Option<String>,
}

impl Decoder {
    /// Opens a decoder for stream `index`; Unsupported if FFmpeg lacks the codec.
    fn open(input: &Input, index: usize, limits: &Limits) -> Result<Decoder, MediaError> {
        let st = input
            .stream(index)
            .ok_or_else(|| MediaError::Invalid("the stream went missing".into()))?;
        let par = st.codecpar();
        let codec = AVCodec::find_decoder(par.codec_id).ok_or_else(|| {
            MediaError::Unsupported(format!("no decoder for {}", codec_name(par.codec_id)))
        })?;
        let mut ctx = AVCodecContext::new(&codec);
        ctx.apply_codecpar(&par)
            .map_err(ff("reading the codec parameters"))?;
        // SAFETY: plain field writes on a context that is not open yet.
        unsafe {
            let raw = ctx.deref_mut();
            raw.pkt_timebase = st.time_base;
            raw.max_pixels = i64::try_from(limits.max_pixels).unwrap_or(i64::MAX);
            if par.codec_type == VIDEO {
                raw.thread_count = 0;
            }
        }
        ctx.open(None).map_err(ff("opening the decoder"))?;
        Ok(Decoder {
            ctx,
            stream: index,
            time_base: st.time_base,
            draining: false,
            done: false,
            last_error: None,
        })
    }

    /// Sends a packet, or None for the end of the stream.
    fn send(&mut self, packet: Option<&AVPacket>) -> Result<(), MediaError> {
        if self.draining {
            return Ok(());
        }
        self.draining = packet.is_none();
        match self.ctx.send_packet(packet) {
            Ok(()) => Ok(()),
            Err(err) => self.failed(&err),
        }
    }

    /// The next decoded frame; None when the decoder needs more input or has finished.
    fn receive(&mut self) -> Result<Option<AVFrame>, MediaError> {
        if self.done {
            return Ok(None);
        }
        match self.ctx.receive_frame() {
            Ok(frame) => Ok(Some(frame)),
            Err(RsmpegError::DecoderDrainError) if !self.draining => Ok(None),
            Err(RsmpegError::DecoderFlushedError) => {
                self.done = true;
                Ok(None)
            }
            Err(err) => {
                // Once draining, any error ends the stream, so a broken decoder cannot spin.
                self.done = self.draining;
                self.failed(&err)?;
                Ok(None)
            }
        }
    }

    /// Notes a decoding error; only running out of memory stops the job.
    fn failed(&mut self, err: &RsmpegError) -> Result<(), MediaError> {
        if err.raw_error() == Some(AVERROR_ENOMEM) {
            return Err(MediaError::Invalid("FFmpeg ran out of memory".into()));
        }
        self.last_error = Some(describe(err));
        Ok(())
    }
}

/// Decoded frames of the chosen streams of one input, in file order.
struct Frames {
    input: Input,
    decoders: Vec<Decoder>,
    /// The end of the input was reached (a read error counts as the end, as in ffmpeg).
    eof: bool,
    /// The read error that ended the input early, if one did.
    read_error: Option<String>,
}

impl Frames {
    fn new(input: Input, decoders: Vec<Decoder>) -> Frames {
        Frames {
            input,
            decoders,
            eof: false,
            read_error: None,
        }
    }

    /// The next frame and the index of the decoder it came from; None at the end. Fails with
    /// TimedOut once the deadline passes.
    fn next_frame(&mut self, limits: &Limits) -> Result<Option<(usize, AVFrame)>, MediaError> {
        loop {
            limits.check_time()?;
            for (slot, decoder) in self.decoders.iter_mut().enumerate() {
                if let Some(frame) = decoder.receive()? {
                    return Ok(Some((slot, frame)));
                }
            }
            if self.eof {
                return Ok(None);
            }
            match self.input.ctx.read_packet() {
                Ok(Some(packet)) => {
                    let index = usize::try_from(packet.stream_index).ok();
                    if let Some(decoder) = self
                        .decoders
                        .iter_mut()
                        .find(|decoder| Some(decoder.stream) == index)
                    {
                        decoder.send(Some(&packet))?;
                    }
                }
                Ok(None) => self.end()?,
                Err(err) if err.raw_error() == Some(ffi::AVERROR_EXIT) => {
                    return Err(MediaError::TimedOut);
                }
                Err(err) => {
                    // Damaged or truncated: decode what came before.
                    self.read_error = Some(describe(&err));
                    self.end()?;
                }
            }
        }
    }

    /// Tells the decoders the input has ended.
    fn end(&mut self) -> Result<(), MediaError> {
        self.eof = true;
        self.decoders
            .iter_mut()
            .try_for_each(|decoder| decoder.send(None))
    }

    /// Seeks to the keyframe at or before `target` (microseconds); if the file cannot seek,
    /// decoding just carries on from where it is.
    fn seek(&mut self, target: i64) {
        // SAFETY: a plain call on the open context.
        let ret = unsafe {
            ffi::avformat_seek_file(self.input.ctx.as_mut_ptr(), -1, i64::MIN, target, target, 0)
        };
        if ret < 0 {
            return;
        }
        for decoder in &mut self.decoders {
            // SAFETY: a plain call on the open decoder.
            unsafe { ffi::avcodec_flush_buffers(decoder.ctx.as_mut_ptr()) };
            decoder.draining = false;
            decoder.done = false;
        }
        self.eof = false;
    }
}

/// The main video stream of an input, checked against the size limits.
struct VideoSource {
    index: usize,
    time_base: AVRational,
    frame_rate: Option<AVRational>,
    /// Width and height as shown: pixel aspect applied, turned upright.
    display: (f64, f64),
    /// zscale's name of its HDR transfer function, if it has one.
    tonemap: Option<&'static str>,
}

impl VideoSource {
    fn of(input: &Input, rotation: i32, limits: &Limits) -> Result<VideoSource, MediaError> {
        let index = input
            .best_stream(VIDEO)
            .ok_or_else(|| MediaError::Invalid("no video stream".into()))?;
        let st = input
            .stream(index)
            .ok_or_else(|| MediaError::Invalid("the stream went missing".into()))?;
        let par = st.codecpar();
        limits.check_size(
            u32::try_from(par.width).unwrap_or(0),
            u32::try_from(par.height).unwrap_or(0),
        )?;
        let time_base = st.time_base;
        if time_base.num <= 0 || time_base.den <= 0 {
            return Err(MediaError::Invalid(
                "the video stream has no time base".into(),
            ));
        }
        let aspect = rate(par.sample_aspect_ratio).map_or(1.0, |aspect| aspect.clamp(0.25, 4.0));
        let (width, height) = (f64::from(par.width) * aspect, f64::from(par.height));
        Ok(VideoSource {
            index,
            time_base,
            frame_rate: st.guess_framerate().filter(|fr| fr.num > 0 && fr.den > 0),
            display: if matches!(rotation, 90 | 270) {
                (height, width)
            } else {
                (width, height)
            },
            tonemap: tonemap_transfer(par.color_trc),
        })
    }
}

/// Opens `path` to decode its main video stream, after checking its size against the limits.
fn open_video(
    path: &Path,
    rotation: i32,
    limits: &Limits,
) -> Result<(Frames, VideoSource), MediaError> {
    let input = Input::open(path, limits)?;
    let source = VideoSource::of(&input, rotation, limits)?;
    let decoder = Decoder::open(&input, source.index, limits)?;
    Ok((Frames::new(input, vec![decoder]), source))
}

/// `size` scaled down (never up) to fit `bounds`, keeping the aspect; at least 2 px, and even
/// if asked (for 4:2:0 video).
fn fit(size: (f64, f64), bounds: (f64, f64), even: bool) -> (u32, u32) {
    let scale = (bounds.0 / size.0).min(bounds.1 / size.1).min(1.0);
    let side = |length: f64| {
        let pixels = (length * scale).round().max(2.0) as u32;
        if even { pixels & !1 } else { pixels }
    };
    (side(size.0), side(size.1))
}

/// The libavfilter chain for decoded video: upright, scaled by swscale to `width` x `height`,
/// HDR (`tonemap` names its transfer) tone-mapped to SDR BT.709 with zscale and the hable
/// curve, then converted to `pix_fmt`. Without zscale, HDR is passed through untouched.
fn filter_chain(
    rotation: i32,
    tonemap: Option<&str>,
    width: u32,
    height: u32,
    pix_fmt: &str,
) -> String {
    let turn = match rotation {
        90 => "transpose=clock,",
        180 => "hflip,vflip,",
        270 => "transpose=cclock,",
        _ => "",
    };
    let tone = match tonemap {
        Some(transfer) if zscale_available() => format!(
            "zscale=tin={transfer}:pin=bt2020:min=bt2020nc:t=linear:npl=100,format=gbrpf32le,\
             zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,"
        ),
        Some(_) => {
            tracing::warn!("FFmpeg has no zscale filter: HDR video is not tone-mapped");
            String::new()
        }
        None => String::new(),
    };
    format!("{turn}scale={width}:{height},{tone}setsar=1,format={pix_fmt}")
}

/// Whether FFmpeg has the filters the HDR tone mapping needs (zscale needs libzimg).
fn zscale_available() -> bool {
    AVFilter::get_by_name(c"zscale").is_ok() && AVFilter::get_by_name(c"tonemap").is_ok()
}

/// Decoded video through a filter graph ([`filter_chain`]). The graph is rebuilt when the
/// decoded size or pixel format changes mid-stream; its filters turn each frame into one frame,
/// so none is held back at the end.
struct VideoPipe {
    chain: CString,
    time_base: AVRational,
    /// The graph and the (width, height, pixel format) it was built for.
    graph: Option<(AVFilterGraph, (c_int, c_int, c_int))>,
}

impl VideoPipe {
    fn new(chain: &str, time_base: AVRational) -> Result<VideoPipe, MediaError> {
        let chain = CString::new(chain)
            .map_err(|_| MediaError::Invalid("the filter chain contains a NUL byte".into()))?;
        Ok(VideoPipe {
            chain,
            time_base,
            graph: None,
        })
    }

    /// Runs one decoded frame through the graph.
    fn run(&mut self, frame: AVFrame) -> Result<Vec<AVFrame>, MediaError> {
        let key = (frame.width, frame.height, frame.format);
        if self.graph.as_ref().is_none_or(|(_, built)| *built != key) {
            self.graph = Some((build_graph(&self.chain, self.time_base, &frame)?, key));
        }
        let Some((graph, _)) = self.graph.as_mut() else {
            return Ok(Vec::new());
        };
        graph
            .get_filter(c"in")
            .ok_or_else(lost_filter)?
            .buffersrc_add_frame(Some(frame), None)
            .map_err(ff("filtering video"))?;
        let mut out = Vec::new();
        loop {
            let mut sink = graph.get_filter(c"out").ok_or_else(lost_filter)?;
            match sink.buffersink_get_frame(None) {
                Ok(filtered) => out.push(filtered),
                Err(RsmpegError::BufferSinkDrainError | RsmpegError::BufferSinkEofError) => {
                    return Ok(out);
                }
                Err(err) => return Err(ff("filtering video")(err)),
            }
        }
    }
}

fn lost_filter() -> MediaError {
    MediaError::Invalid("the filter graph lost a filter".into())
}

/// A filter graph from a buffer source named "in" through `chain` to a sink named "out", for
/// frames like `frame`.
fn build_graph(
    chain: &CStr,
    time_base: AVRational,
    frame: &AVFrame,
) -> Result<AVFilterGraph, MediaError> {
    let (width, height, format) = (frame.width, frame.height, frame.format);
    let sar = frame.sample_aspect_ratio;
    let (sar_num, sar_den) = if sar.num > 0 && sar.den > 0 {
        (sar.num, sar.den)
    } else {
        (1, 1)
    };
    let (tb_num, tb_den) = (time_base.num, time_base.den);
    let args = CString::new(format!(
        "video_size={width}x{height}:pix_fmt={format}:time_base={tb_num}/{tb_den}:\
         pixel_aspect={sar_num}/{sar_den}"
    ))
    .map_err(|_| MediaError::Invalid("bad filter arguments".into()))?;
    let setup = ff("setting up video filters");
    let graph = AVFilterGraph::new();
    {
        let buffer = AVFilter::get_by_name(c"buffer").map_err(&setup)?;
        let buffersink = AVFilter::get_by_name(c"buffersink").map_err(&setup)?;
        let mut source = graph
            .create_filter_context(&buffer, c"in", Some(args.as_c_str()))
            .map_err(&setup)?;
        let mut sink = graph
            .create_filter_context(&buffersink, c"out", None)
            .map_err(&setup)?;
        let outputs = AVFilterInOut::new(c"in", &mut source, 0);
        let inputs = AVFilterInOut::new(c"out", &mut sink, 0);
        graph
            .parse_ptr(chain, Some(inputs), Some(outputs))
            .map_err(&setup)?;
    }
    graph.config().map_err(&setup)?;
    Ok(graph)
}

/// The pixels of an RGB24 frame.
fn rgb_image(frame: &AVFrame) -> Result<RgbImage, MediaError> {
    let bad = || MediaError::Invalid("the filters returned an unexpected picture".into());
    let width = usize::try_from(frame.width).map_err(|_| bad())?;
    let height = usize::try_from(frame.height).map_err(|_| bad())?;
    let stride = usize::try_from(frame.linesize[0]).map_err(|_| bad())?;
    let row_bytes = width * 3;
    if frame.format != ffi::AVPixelFormat_AV_PIX_FMT_RGB24
        || frame.data[0].is_null()
        || stride < row_bytes
    {
        return Err(bad());
    }
    let mut pixels = Vec::with_capacity(row_bytes * height);
    for y in 0..height {
        // SAFETY: row `y` of an RGB24 frame is `row_bytes` bytes at data[0] + y * stride.
        let row = unsafe { std::slice::from_raw_parts(frame.data[0].add(y * stride), row_bytes) };
        pixels.extend_from_slice(row);
    }
    let width = u32::try_from(width).map_err(|_| bad())?;
    let height = u32::try_from(height).map_err(|_| bad())?;
    RgbImage::from_raw(width, height, pixels).ok_or_else(bad)
}

/// Mean BT.709 luma (0..255) of about 32 x 32 pixels spread over `image`.
fn mean_luma(image: &RgbImage) -> f64 {
    let (width, height) = image.dimensions();
    let step_x = usize::try_from((width / 32).max(1)).unwrap_or(1);
    let step_y = usize::try_from((height / 32).max(1)).unwrap_or(1);
    let mut sum = 0.0;
    let mut count = 0u32;
    for y in (0..height).step_by(step_y) {
        for x in (0..width).step_by(step_x) {
            let [r, g, b] = image.get_pixel(x, y).0;
            sum += 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b);
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// When (microseconds, absolute) to look for a poster: ten points over the first 10 % (at most
/// 30 s) from 1 s in, or from the start for clips under 3 s.
fn poster_targets(start_us: i64, duration_ms: Option<i64>) -> Vec<i64> {
    let duration = duration_ms
        .filter(|ms| *ms > 0)
        .map(|ms| ms.saturating_mul(1000));
    let (first, span) = match duration {
        Some(us) if us >= 3_000_000 => (1_000_000, (us / 10).min(30_000_000)),
        Some(us) => (0, us / 10),
        None => (1_000_000, 10_000_000),
    };
    (0..POSTER_TRIES)
        .map(|k| start_us.saturating_add(first + span * k / POSTER_TRIES))
        .collect()
}

/// Decodes up to the first frame at or after `target` (microseconds); after a few hundred frames
/// without getting there, takes the next one. None at the end of the file.
fn frame_at(
    frames: &mut Frames,
    target: i64,
    time_base: AVRational,
    limits: &Limits,
) -> Result<Option<AVFrame>, MediaError> {
    for _ in 0..MAX_FRAMES_PER_SEEK {
        let Some((_, frame)) = frames.next_frame(limits)? else {
            return Ok(None);
        };
        if frame_us(&frame, time_base).is_none_or(|us| us >= target) {
            return Ok(Some(frame));
        }
    }
    Ok(frames.next_frame(limits)?.map(|(_, frame)| frame))
}

/// An MP4 being written. Dropping it closes the file, also after an error.
struct Output {
    ctx: AVFormatContextOutput,
}

impl Output {
    /// Creates `path` as an MP4, whatever its extension.
    fn create(path: &Path) -> Result<Output, MediaError> {
        let url = file_url(path)?;
        let mut raw: *mut ffi::AVFormatContext = ptr::null_mut();
        // SAFETY: allocates a muxer context for the named format.
        let ret = unsafe {
            ffi::avformat_alloc_output_context2(
                &mut raw,
                ptr::null(),
                c"mp4".as_ptr(),
                url.as_ptr(),
            )
        };
        check(ret, "creating the proxy")?;
        let raw =
            NonNull::new(raw).ok_or_else(|| MediaError::Invalid("creating the proxy".into()))?;
        let mut output = Output {
            // SAFETY: `raw` is a fresh muxer context, freed when `ctx` drops.
            ctx: unsafe { AVFormatContextOutput::from_raw(raw) },
        };
        // SAFETY: opens the file into the context's (null) `pb`, which Output::drop closes.
        let ret = unsafe {
            ffi::avio_open(
                &mut output.ctx.deref_mut().pb,
                url.as_ptr(),
                ffi::AVIO_FLAG_WRITE as c_int,
            )
        };
        check(ret, "creating the proxy file")?;
        Ok(output)
    }

    /// The time base the muxer chose for `stream` (known once the header is written).
    fn time_base(&self, stream: c_int) -> Result<AVRational, MediaError> {
        usize::try_from(stream)
            .ok()
            .and_then(|index| self.ctx.streams().get(index))
            .map(|st| st.time_base)
            .ok_or_else(|| MediaError::Invalid("the proxy lost a stream".into()))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // SAFETY: `pb` is null or was opened by avio_open in `create`; closing it here (and
        // nulling it) leaves AVFormatContextOutput's drop only the context to free.
        unsafe { ffi::avio_closep(&mut self.ctx.deref_mut().pb) };
    }
}

/// An encoder feeding one output stream.
struct Encoder {
    ctx: AVCodecContext,
    stream: c_int,
    /// The muxer's time base for the stream, set once the header is written.
    stream_tb: AVRational,
    /// Duration (encoder time base) for packets the encoder leaves without one.
    packet_duration: i64,
}

impl Encoder {
    /// Opens the configured encoder `ctx` and adds its stream to `output`.
    fn open(
        output: &mut Output,
        mut ctx: AVCodecContext,
        options: Option<AVDictionary>,
        packet_duration: i64,
    ) -> Result<Encoder, MediaError> {
        if (output.ctx.oformat().flags & ffi::AVFMT_GLOBALHEADER as c_int) != 0 {
            let flags = ctx.flags | ffi::AV_CODEC_FLAG_GLOBAL_HEADER as c_int;
            ctx.set_flags(flags);
        }
        ctx.open(options).map_err(ff("opening the encoder"))?;
        let time_base = ctx.time_base;
        let mut stream = output.ctx.new_stream();
        stream.set_codecpar(ctx.extract_codecpar());
        stream.set_time_base(time_base);
        let index = stream.index;
        Ok(Encoder {
            ctx,
            stream: index,
            stream_tb: time_base,
            packet_duration,
        })
    }

    /// Encodes a frame (None: flush) and writes the packets that come out.
    fn encode(&mut self, frame: Option<&AVFrame>, output: &mut Output) -> Result<(), MediaError> {
        match self.ctx.send_frame(frame) {
            Ok(()) | Err(RsmpegError::EncoderFlushedError) => {}
            Err(err) => return Err(ff("encoding")(err)),
        }
        loop {
            match self.ctx.receive_packet() {
                Ok(mut packet) => {
                    if packet.duration == 0 {
                        packet.set_duration(self.packet_duration);
                    }
                    packet.set_stream_index(self.stream);
                    packet.rescale_ts(self.ctx.time_base, self.stream_tb);
                    output
                        .ctx
                        .interleaved_write_frame(&mut packet)
                        .map_err(ff("writing the proxy"))?;
                }
                Err(RsmpegError::EncoderDrainError | RsmpegError::EncoderFlushedError) => {
                    return Ok(());
                }
                Err(err) => return Err(ff("encoding")(err)),
            }
        }
    }
}

/// One stream of a transcode, from decoded frames to muxed packets.
enum Lane {
    Video(VideoLane),
    Audio(AudioLane),
}

impl Lane {
    /// Takes a decoded frame; returns how far (microseconds) the output has got.
    fn push(
        &mut self,
        frame: AVFrame,
        output: &mut Output,
        limits: &Limits,
    ) -> Result<i64, MediaError> {
        match self {
            Lane::Video(video) => video.push(frame, output, limits),
            Lane::Audio(audio) => audio.push(Some(&frame), output),
        }
    }

    /// Flushes everything held back into the output.
    fn finish(&mut self, output: &mut Output) -> Result<(), MediaError> {
        match self {
            Lane::Video(video) => video.encoder.encode(None, output),
            Lane::Audio(audio) => {
                audio.push(None, output)?;
                audio.encoder.encode(None, output)
            }
        }
    }

    fn encoder(&mut self) -> &mut Encoder {
        match self {
            Lane::Video(video) => &mut video.encoder,
            Lane::Audio(audio) => &mut audio.encoder,
        }
    }

    /// Whether no frame came in.
    fn is_empty(&self) -> bool {
        match self {
            Lane::Video(video) => video.frames == 0,
            Lane::Audio(audio) => audio.next_pts.is_none(),
        }
    }
}

/// Video to H.264: filter graph, libx264 and timestamps.
struct VideoLane {
    pipe: VideoPipe,
    encoder: Encoder,
    /// The input stream's time base, which the filters and the encoder keep.
    time_base: AVRational,
    /// The input's start in that time base, subtracted so the proxy starts at 0.
    start: i64,
    /// One frame in that time base, for frames without a timestamp.
    step: i64,
    last_pts: Option<i64>,
    frames: u64,
}

impl VideoLane {
    fn new(
        output: &mut Output,
        source: &VideoSource,
        rotation: i32,
        start_us: i64,
    ) -> Result<VideoLane, MediaError> {
        // At most 1080 lines on the short side (landscape: tall), 3840 on the long side.
        let bounds = if source.display.0 >= source.display.1 {
            (3840.0, 1080.0)
        } else {
            (1080.0, 3840.0)
        };
        let (width, height) = fit(source.display, bounds, true);
        let codec = AVCodec::find_encoder_by_name(c"libx264")
            .ok_or_else(|| MediaError::Unsupported("FFmpeg has no libx264".into()))?;
        let mut ctx = AVCodecContext::new(&codec);
        ctx.set_width(width as c_int);
        ctx.set_height(height as c_int);
        ctx.set_pix_fmt(ffi::AVPixelFormat_AV_PIX_FMT_YUV420P);
        ctx.set_time_base(source.time_base);
        ctx.set_sample_aspect_ratio(ra(1, 1));
        if let Some(frame_rate) = source.frame_rate {
            ctx.set_framerate(frame_rate);
        }
        let step = source
            .frame_rate
            .map_or(1, |fr| av_rescale_q(1, av_inv_q(fr), source.time_base))
            .max(1);
        let options = AVDictionary::new(c"preset", c"veryfast", 0).set(c"crf", c"23", 0);
        let encoder = Encoder::open(output, ctx, Some(options), step)?;
        let chain = filter_chain(rotation, source.tonemap, width, height, "yuv420p");
        Ok(VideoLane {
            pipe: VideoPipe::new(&chain, source.time_base)?,
            encoder,
            time_base: source.time_base,
            start: av_rescale_q(start_us, ffi::AV_TIME_BASE_Q, source.time_base),
            step,
            last_pts: None,
            frames: 0,
        })
    }

    fn push(
        &mut self,
        mut frame: AVFrame,
        output: &mut Output,
        limits: &Limits,
    ) -> Result<i64, MediaError> {
        self.frames += 1;
        if self.frames > limits.max_frames {
            return Err(MediaError::TooLarge(format!(
                "more than the {} frame limit",
                limits.max_frames
            )));
        }
        let ts = frame.best_effort_timestamp;
        let pts = if ts == ffi::AV_NOPTS_VALUE {
            self.last_pts
                .map_or(0, |last| last.saturating_add(self.step))
        } else {
            ts.saturating_sub(self.start)
        };
        // The encoder and the muxer need strictly increasing timestamps.
        let pts = match self.last_pts {
            Some(last) if pts <= last => last.saturating_add(1),
            _ => pts,
        };
        self.last_pts = Some(pts);
        frame.set_pts(pts);
        for mut picture in self.pipe.run(frame)? {
            picture.set_pict_type(ffi::AVPictureType_AV_PICTURE_TYPE_NONE);
            self.encoder.encode(Some(&picture), output)?;
        }
        Ok(av_rescale_q(pts, self.time_base, ffi::AV_TIME_BASE_Q))
    }
}

/// Audio to AAC: resampler, a FIFO cutting encoder-sized frames, and timestamps.
struct AudioLane {
    resampler: Resampler,
    fifo: AVAudioFifo,
    encoder: Encoder,
    frame_size: c_int,
    /// The input stream's time base and the input's start, to place the first samples.
    time_base: AVRational,
    start_us: i64,
    /// Timestamp (in samples) of the next sample to encode, set by the first decoded frame.
    next_pts: Option<i64>,
}

impl AudioLane {
    fn new(
        output: &mut Output,
        decoder: &Decoder,
        target: ProxyTarget,
        start_us: i64,
    ) -> Result<AudioLane, MediaError> {
        let source_rate = decoder.ctx.sample_rate;
        let (rate, channels) = match target {
            ProxyTarget::Video => (48_000, 2),
            ProxyTarget::Audio => (
                if source_rate > 0 && source_rate % 11_025 == 0 {
                    44_100
                } else {
                    48_000
                },
                decoder.ctx.ch_layout.nb_channels.clamp(1, 2),
            ),
        };
        let codec = AVCodec::find_encoder(ffi::AVCodecID_AV_CODEC_ID_AAC)
            .ok_or_else(|| MediaError::Unsupported("FFmpeg has no AAC encoder".into()))?;
        let mut ctx = AVCodecContext::new(&codec);
        ctx.set_sample_rate(rate);
        ctx.set_sample_fmt(FLTP);
        ctx.set_bit_rate(PROXY_AUDIO_BITRATE);
        ctx.set_time_base(ra(1, rate));
        // SAFETY: sets the (allocation-free) channel layout of a context that is not open yet.
        unsafe { ffi::av_channel_layout_default(&mut ctx.deref_mut().ch_layout, channels) };
        let encoder = Encoder::open(output, ctx, None, 0)?;
        let frame_size = if encoder.ctx.frame_size > 0 {
            encoder.ctx.frame_size
        } else {
            1024
        };
        Ok(AudioLane {
            resampler: Resampler::new(rate, channels),
            fifo: AVAudioFifo::new(FLTP, channels, frame_size),
            encoder,
            frame_size,
            time_base: decoder.time_base,
            start_us,
            next_pts: None,
        })
    }

    /// Takes a decoded frame (None: the end); returns how far (microseconds) the output has got.
    fn push(&mut self, frame: Option<&AVFrame>, output: &mut Output) -> Result<i64, MediaError> {
        if let Some(frame) = frame
            && self.next_pts.is_none()
        {
            let at = frame_us(frame, self.time_base)
                .map_or(0, |us| us.saturating_sub(self.start_us).max(0));
            self.next_pts = Some(av_rescale_q(
                at,
                ffi::AV_TIME_BASE_Q,
                self.encoder.ctx.time_base,
            ));
        }
        let converted = self.resampler.convert(frame)?;
        if converted > 0 {
            let planes = self.resampler.plane_pointers();
            // SAFETY: each plane holds `converted` samples.
            unsafe { self.fifo.write(planes.as_ptr(), converted) }
                .map_err(ff("buffering audio"))?;
        }
        self.encode_fifo(output, frame.is_none())?;
        Ok(av_rescale_q(
            self.next_pts.unwrap_or(0),
            self.encoder.ctx.time_base,
            ffi::AV_TIME_BASE_Q,
        ))
    }

    /// Encodes full frames from the FIFO, and the rest too if `all`.
    fn encode_fifo(&mut self, output: &mut Output, all: bool) -> Result<(), MediaError> {
        loop {
            let available = self.fifo.size();
            if available <= 0 || (available < self.frame_size && !all) {
                return Ok(());
            }
            let count = available.min(self.frame_size);
            let mut frame = AVFrame::new();
            frame.set_nb_samples(count);
            frame.set_format(FLTP);
            frame.set_sample_rate(self.encoder.ctx.sample_rate);
            let channels = self.encoder.ctx.ch_layout.nb_channels;
            // SAFETY: gives the new frame the encoder's (allocation-free) channel layout.
            unsafe { ffi::av_channel_layout_default(&mut frame.deref_mut().ch_layout, channels) };
            frame.alloc_buffer().map_err(ff("buffering audio"))?;
            // SAFETY: the frame has room for `count` samples in each plane.
            unsafe { self.fifo.read(frame.data_mut().as_mut_ptr(), count) }
                .map_err(ff("buffering audio"))?;
            let pts = self.next_pts.unwrap_or(0);
            frame.set_pts(pts);
            self.next_pts = Some(pts.saturating_add(i64::from(count)));
            self.encoder.encode(Some(&frame), output)?;
        }
    }
}

/// A decoded audio format (sample format, rate, channels, channel mask), to notice changes
/// mid-stream.
type AudioFormat = (c_int, c_int, c_int, u64);

/// The format of a decoded audio frame.
fn audio_format(frame: &AVFrame) -> AudioFormat {
    let layout = &frame.ch_layout;
    let mask = if layout.order == ffi::AVChannelOrder_AV_CHANNEL_ORDER_NATIVE {
        // SAFETY: `mask` is the union member of native-order layouts.
        unsafe { layout.u.mask }
    } else {
        0
    };
    (frame.format, frame.sample_rate, layout.nb_channels, mask)
}

/// swresample to planar f32 at a fixed rate and channel count. It is rebuilt when the decoded
/// format changes mid-stream (dropping the few samples the old one held back).
struct Resampler {
    rate: c_int,
    channels: c_int,
    swr: Option<(SwrContext, AudioFormat)>,
    /// One buffer per output channel, holding the last conversion's samples at the front.
    planes: Vec<Vec<f32>>,
}

impl Resampler {
    fn new(rate: c_int, channels: c_int) -> Resampler {
        Resampler {
            rate,
            channels,
            swr: None,
            planes: vec![Vec::new(); usize::try_from(channels).unwrap_or(1)],
        }
    }

    /// Converts `frame` (None: drains what swresample holds back); returns the number of
    /// samples now at the front of each plane.
    fn convert(&mut self, frame: Option<&AVFrame>) -> Result<c_int, MediaError> {
        let (input, count): (*const *const u8, c_int) = match frame {
            Some(frame) => {
                let format = audio_format(frame);
                if self.swr.as_ref().is_none_or(|(_, built)| *built != format) {
                    self.swr = Some((self.build(frame)?, format));
                }
                (frame.extended_data as *const *const u8, frame.nb_samples)
            }
            None => (ptr::null(), 0),
        };
        let Some((swr, _)) = &self.swr else {
            return Ok(0);
        };
        let capacity = swr.get_out_samples(count);
        let Ok(len) = usize::try_from(capacity) else {
            return Ok(0);
        };
        if len == 0 {
            return Ok(0);
        }
        let mut outputs: Vec<*mut u8> = self
            .planes
            .iter_mut()
            .map(|plane| {
                plane.resize(len, 0.0);
                plane.as_mut_ptr().cast::<u8>()
            })
            .collect();
        // SAFETY: `input` holds `count` samples of the format swr was built for (or is null to
        // drain), and every output plane has room for `capacity` samples.
        unsafe { swr.convert_raw(outputs.as_mut_ptr(), capacity, input, count) }
            .map_err(ff("resampling audio"))
    }

    /// Pointers to the planes, for copying the last conversion out.
    fn plane_pointers(&mut self) -> Vec<*mut u8> {
        self.planes
            .iter_mut()
            .map(|plane| plane.as_mut_ptr().cast::<u8>())
            .collect()
    }

    /// A resampler from `frame`'s format to this one's.
    fn build(&self, frame: &AVFrame) -> Result<SwrContext, MediaError> {
        let mut in_layout = plain_layout(&frame.ch_layout);
        let mut out_layout = default_layout(self.channels);
        let mut raw: *mut ffi::SwrContext = ptr::null_mut();
        // SAFETY: allocates a context from allocation-free layouts; on failure it frees itself.
        let ret = unsafe {
            ffi::swr_alloc_set_opts2(
                &mut raw,
                &mut out_layout,
                FLTP,
                self.rate,
                &mut in_layout,
                frame.format,
                frame.sample_rate,
                0,
                ptr::null_mut(),
            )
        };
        check(ret, "setting up the resampler")?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| MediaError::Invalid("setting up the resampler".into()))?;
        // SAFETY: `raw` is a fresh context, freed when `swr` drops.
        let mut swr = unsafe { SwrContext::from_raw(raw) };
        swr.init().map_err(ff("setting up the resampler"))?;
        Ok(swr)
    }
}

/// An allocation-free copy of `layout`: its channel mask if it has one, else the default
/// layout for its channel count.
fn plain_layout(layout: &ffi::AVChannelLayout) -> ffi::AVChannelLayout {
    if layout.order == ffi::AVChannelOrder_AV_CHANNEL_ORDER_NATIVE {
        let mut plain = default_layout(0);
        // SAFETY: `mask` is the union member of native-order layouts.
        let ret = unsafe { ffi::av_channel_layout_from_mask(&mut plain, layout.u.mask) };
        if ret == 0 {
            return plain;
        }
    }
    default_layout(layout.nb_channels)
}

/// FFmpeg's default layout for `channels` channels (unspecified order if it has none).
fn default_layout(channels: c_int) -> ffi::AVChannelLayout {
    // SAFETY: all zeroes is the documented empty layout, which av_channel_layout_default fills.
    unsafe {
        let mut layout = std::mem::zeroed::<ffi::AVChannelLayout>();
        ffi::av_channel_layout_default(&mut layout, channels);
        layout
    }
}

/// Reports progress to the caller in steps of at least 1 %.
struct Progress<'a> {
    report: &'a mut dyn FnMut(f64),
    duration_us: Option<i64>,
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
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    const MP4: &str = "mov,mp4,m4a,3gp,3g2,mj2";

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("alcoves-av-{test}-{}", std::process::id()));
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

    #[test]
    fn decodes_audio_to_16k_mono() {
        let scratch = Scratch::new("pcm");
        let source = h264_mp4(&scratch);
        let samples = decode_audio_16k_mono(&source, &limits(), &mut |_: f64| {}).expect("decode");
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
        let samples = decode_audio_16k_mono(&source, &short, &mut |_: f64| {}).expect("decode");
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
}
