//! Audio decoding to 16 kHz mono f32 (for the models) and the resampler the proxies share.

use std::ffi::c_int;
use std::ops::ControlFlow;
use std::path::Path;
use std::ptr::{self, NonNull};

use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi;
use rsmpeg::swresample::SwrContext;

use super::input::{Decoder, Frames, Input, nothing_decoded};
use super::{AUDIO, Progress, check, ff, frame_us};
use crate::media::{Limits, MediaError};

pub(super) const FLTP: ffi::AVSampleFormat = ffi::AVSampleFormat_AV_SAMPLE_FMT_FLTP;

/// Where decoded 16 kHz mono samples go, piece by piece as they are decoded.
pub trait SampleSink {
    /// How many samples to expect in all (from the stream's duration, within the limits).
    fn expect(&mut self, _total: usize) {}
    /// Takes the next samples; `Break` stops the decoding (the sink keeps its own reason).
    fn take(&mut self, samples: &[f32]) -> ControlFlow<()>;
}

/// All the samples in memory, in one allocation sized from the duration up front (growing by
/// doubling would briefly hold half as much again of a long recording).
impl SampleSink for Vec<f32> {
    fn expect(&mut self, total: usize) {
        // A second more than the container says, for durations that are a little short.
        self.reserve_exact(total.saturating_add(16_000));
    }

    fn take(&mut self, samples: &[f32]) -> ControlFlow<()> {
        self.extend_from_slice(samples);
        ControlFlow::Continue(())
    }
}

impl SampleSink for crate::media::waveform::Peaks {
    fn take(&mut self, samples: &[f32]) -> ControlFlow<()> {
        self.push(samples);
        ControlFlow::Continue(())
    }
}

/// Decodes the main audio stream to 16 kHz mono samples in -1..1, at most `limits.max_duration`
/// of them, handing them to `sink` as they come and reporting 0.0..=1.0 to `progress`. Ends
/// early, without an error, when the sink says to stop.
pub fn stream_audio_16k_mono(
    path: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
    sink: &mut dyn SampleSink,
) -> Result<(), MediaError> {
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
    if let Some(us) = progress.duration_us.filter(|us| *us > 0) {
        sink.expect(((us as f64 / 1e6 * f64::from(RATE)) as usize).min(max));
    }
    let mut frames = Frames::new(input, vec![decoder]);
    let mut resampler = Resampler::new(RATE, 1);
    let mut piece = Vec::new();
    let mut taken = 0;
    loop {
        let frame = frames.next_frame(limits)?.map(|(_, frame)| frame);
        let converted = usize::try_from(resampler.convert(frame.as_ref())?).unwrap_or(0);
        let room = max.saturating_sub(taken);
        if let Some(plane) = resampler.planes.first() {
            piece.clear();
            piece.extend(plane.iter().take(converted.min(room)).map(|sample| {
                if sample.is_finite() {
                    sample.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
            taken += piece.len();
            if sink.take(&piece).is_break() {
                return Ok(());
            }
        }
        let Some(frame) = frame else {
            break;
        };
        if taken >= max {
            break;
        }
        if let Some(us) = frame_us(&frame, time_base) {
            progress.at(us.saturating_sub(start_us));
        }
    }
    if taken == 0 {
        return Err(nothing_decoded("audio", &frames));
    }
    progress.done();
    Ok(())
}

/// A decoded audio format (sample format, rate, channels, channel mask), to notice changes
/// mid-stream.
pub(super) type AudioFormat = (c_int, c_int, c_int, u64);

/// The format of a decoded audio frame.
pub(super) fn audio_format(frame: &AVFrame) -> AudioFormat {
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
pub(super) struct Resampler {
    rate: c_int,
    channels: c_int,
    swr: Option<(SwrContext, AudioFormat)>,
    /// One buffer per output channel, holding the last conversion's samples at the front.
    planes: Vec<Vec<f32>>,
}

impl Resampler {
    pub(super) fn new(rate: c_int, channels: c_int) -> Resampler {
        Resampler {
            rate,
            channels,
            swr: None,
            planes: vec![Vec::new(); usize::try_from(channels).unwrap_or(1)],
        }
    }

    /// Converts `frame` (None: drains what swresample holds back); returns the number of
    /// samples now at the front of each plane.
    pub(super) fn convert(&mut self, frame: Option<&AVFrame>) -> Result<c_int, MediaError> {
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
    pub(super) fn plane_pointers(&mut self) -> Vec<*mut u8> {
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
pub(super) fn plain_layout(layout: &ffi::AVChannelLayout) -> ffi::AVChannelLayout {
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
pub(super) fn default_layout(channels: c_int) -> ffi::AVChannelLayout {
    // SAFETY: all zeroes is the documented empty layout, which av_channel_layout_default fills.
    unsafe {
        let mut layout = std::mem::zeroed::<ffi::AVChannelLayout>();
        ffi::av_channel_layout_default(&mut layout, channels);
        layout
    }
}
