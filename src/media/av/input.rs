//! An opened media file and its decoders: demuxing with a deadline, decoding packets into
//! frames, skipping corrupt packets.

use std::cmp::Reverse;
use std::ffi::{c_int, c_void};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Instant;

use rsmpeg::UnsafeDerefMut;
use rsmpeg::avcodec::{AVCodec, AVCodecContext, AVPacket};
use rsmpeg::avformat::{AVFormatContextInput, AVStreamRef};
use rsmpeg::avutil::{AVFrame, AVRational};
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;

use super::{AUDIO, DEMUXERS, VIDEO, check, codec_name, describe, ff, file_url};
use crate::media::{Limits, MediaError};

pub(super) const AVERROR_ENOMEM: c_int = ffi::AVERROR(ffi::ENOMEM);

/// An open input file. Blocking reads give up with `AVERROR_EXIT` once the deadline passes.
pub(super) struct Input {
    pub(super) ctx: AVFormatContextInput,
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
    pub(super) fn open(path: &Path, limits: &Limits) -> Result<Input, MediaError> {
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
    pub(super) fn stream(&self, index: usize) -> Option<AVStreamRef<'_>> {
        let count = usize::try_from(self.ctx.nb_streams).unwrap_or(0);
        if index >= count || self.ctx.streams.is_null() {
            return None;
        }
        self.ctx.streams().get(index)
    }

    /// The main stream of `kind`: not cover art, preferably the default one, else the first.
    pub(super) fn best_stream(&self, kind: ffi::AVMediaType) -> Option<usize> {
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
    pub(super) fn start_us(&self) -> i64 {
        if self.ctx.start_time == ffi::AV_NOPTS_VALUE {
            0
        } else {
            self.ctx.start_time
        }
    }

    /// How long the file is, in microseconds, if known.
    pub(super) fn duration_us(&self) -> Option<i64> {
        (self.ctx.duration > 0).then_some(self.ctx.duration)
    }
}

/// The error for a stream of which not one frame decoded, with the last reason FFmpeg gave.
pub(super) fn nothing_decoded(what: &str, frames: &Frames) -> MediaError {
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

/// A decoder for one input stream; corrupt packets are skipped, not fatal.
pub(super) struct Decoder {
    pub(super) ctx: AVCodecContext,
    /// Index of the input stream it decodes.
    pub(super) stream: usize,
    /// The stream's time base, which decoded timestamps are in.
    pub(super) time_base: AVRational,
    /// The end of the stream was sent.
    draining: bool,
    /// The last frame came out.
    done: bool,
    /// The last decoding error, for the message if nothing decodes at all.
    last_error: Option<String>,
}

impl Decoder {
    /// Opens a decoder for stream `index`; Unsupported if FFmpeg lacks the codec.
    pub(super) fn open(
        input: &Input,
        index: usize,
        limits: &Limits,
    ) -> Result<Decoder, MediaError> {
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
pub(super) struct Frames {
    pub(super) input: Input,
    decoders: Vec<Decoder>,
    /// The end of the input was reached (a read error counts as the end, as in ffmpeg).
    eof: bool,
    /// The read error that ended the input early, if one did.
    read_error: Option<String>,
}

impl Frames {
    pub(super) fn new(input: Input, decoders: Vec<Decoder>) -> Frames {
        Frames {
            input,
            decoders,
            eof: false,
            read_error: None,
        }
    }

    /// The next frame and the index of the decoder it came from; None at the end. Fails with
    /// TimedOut once the deadline passes.
    pub(super) fn next_frame(
        &mut self,
        limits: &Limits,
    ) -> Result<Option<(usize, AVFrame)>, MediaError> {
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
    pub(super) fn seek(&mut self, target: i64) {
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
