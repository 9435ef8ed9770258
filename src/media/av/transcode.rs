//! Browser-playable proxies: H.264/AAC MP4 (or AAC M4A for audio) written lane by lane.

use std::ffi::c_int;
use std::ops::Range;
use std::path::Path;
use std::ptr::{self, NonNull};

use rsmpeg::UnsafeDerefMut;
use rsmpeg::avcodec::{AVCodec, AVCodecContext};
use rsmpeg::avformat::AVFormatContextOutput;
use rsmpeg::avutil::{AVAudioFifo, AVDictionary, AVFrame, AVRational, av_inv_q, av_rescale_q, ra};
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;

use super::audio::{FLTP, Resampler};
use super::input::{Decoder, Frames, Input, nothing_decoded};
use super::video::{VideoPipe, VideoSource, filter_chain, fit};
use super::{AUDIO, AvInfo, Progress, ProxyTarget, check, ff, file_url, frame_us};
use crate::media::{Limits, MediaError};

/// Bitrate of the proxies' AAC audio.
pub(super) const PROXY_AUDIO_BITRATE: i64 = 128_000;

/// Transcodes `path` (or only `range` of it: microseconds from its start, cut frame-accurately
/// for video) into a browser-playable MP4 at `out`, reporting 0.0..=1.0 to `progress` as
/// output timestamps advance over the duration. On error `out` is left for the caller.
pub fn transcode(
    path: &Path,
    out: &Path,
    info: &AvInfo,
    target: ProxyTarget,
    range: Option<Range<i64>>,
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
    // Output timestamps start at 0 at the input's start, or at the range's start.
    let start_us = input.start_us() + range.as_ref().map_or(0, |r| r.start);
    let duration_us = match &range {
        Some(r) => Some(r.end - r.start),
        None => info
            .duration_ms
            .filter(|ms| *ms > 0)
            .map(|ms| ms.saturating_mul(1000))
            .or_else(|| input.duration_us()),
    };

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
    let end_us = range.as_ref().map(|r| start_us + (r.end - r.start));
    if range.is_some() {
        // To the key frame at or before the start; the frames before it are decoded and dropped.
        frames.seek(start_us);
    }
    let mut ended = vec![false; lanes.len()];
    while let Some((slot, frame)) = frames.next_frame(limits)? {
        let Some(lane) = lanes.get_mut(slot) else {
            continue;
        };
        if let Some(end_us) = end_us {
            let Some(at) = frame_us(&frame, lane.time_base()) else {
                continue;
            };
            if at >= end_us {
                ended[slot] = true;
                if ended.iter().all(|e| *e) {
                    break;
                }
                continue;
            }
            if lane.before_start(&frame, at, start_us) {
                continue;
            }
        }
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

/// An MP4 being written. Dropping it closes the file, also after an error.
pub(super) struct Output {
    pub(super) ctx: AVFormatContextOutput,
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
    pub(super) fn time_base(&self, stream: c_int) -> Result<AVRational, MediaError> {
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
pub(super) struct Encoder {
    pub(super) ctx: AVCodecContext,
    pub(super) stream: c_int,
    /// The muxer's time base for the stream, set once the header is written.
    stream_tb: AVRational,
    /// Duration (encoder time base) for packets the encoder leaves without one.
    packet_duration: i64,
}

impl Encoder {
    /// Opens the configured encoder `ctx` and adds its stream to `output`.
    pub(super) fn open(
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
pub(super) enum Lane {
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

    /// The input stream's time base.
    pub(super) fn time_base(&self) -> AVRational {
        match self {
            Lane::Video(video) => video.time_base,
            Lane::Audio(audio) => audio.time_base,
        }
    }

    /// Whether a frame at `at` (microseconds) falls wholly before a cut starting at `start_us`:
    /// a video frame that starts before it, an audio frame that ends before it.
    fn before_start(&self, frame: &AVFrame, at: i64, start_us: i64) -> bool {
        match self {
            Lane::Video(_) => at < start_us,
            Lane::Audio(_) => {
                let rate = i64::from(frame.sample_rate.max(1));
                at + i64::from(frame.nb_samples) * 1_000_000 / rate <= start_us
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
pub(super) struct VideoLane {
    pipe: VideoPipe,
    encoder: Encoder,
    /// The input stream's time base, which the filters and the encoder keep.
    pub(super) time_base: AVRational,
    /// The input's start in that time base, subtracted so the proxy starts at 0.
    start: i64,
    /// One frame in that time base, for frames without a timestamp.
    step: i64,
    last_pts: Option<i64>,
    frames: u64,
}

impl VideoLane {
    pub(super) fn new(
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
pub(super) struct AudioLane {
    resampler: Resampler,
    fifo: AVAudioFifo,
    encoder: Encoder,
    frame_size: c_int,
    /// The input stream's time base and the input's start, to place the first samples.
    pub(super) time_base: AVRational,
    pub(super) start_us: i64,
    /// Timestamp (in samples) of the next sample to encode, set by the first decoded frame.
    next_pts: Option<i64>,
}

impl AudioLane {
    pub(super) fn new(
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
