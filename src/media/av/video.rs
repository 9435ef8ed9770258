//! Video frames to pictures: the scale/rotate/tone-map filter graph and RGB images.

use std::ffi::{CStr, CString, c_int};
use std::path::Path;

use ::image::RgbImage;
use rsmpeg::avfilter::{AVFilter, AVFilterGraph, AVFilterInOut};
use rsmpeg::avutil::{AVFrame, AVRational};
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;

use super::input::{Decoder, Frames, Input};
use super::{VIDEO, ff, rate, tonemap_transfer};
use crate::media::{Limits, MediaError};

/// The main video stream of an input, checked against the size limits.
pub(super) struct VideoSource {
    pub(super) index: usize,
    pub(super) time_base: AVRational,
    pub(super) frame_rate: Option<AVRational>,
    /// Width and height as shown: pixel aspect applied, turned upright.
    pub(super) display: (f64, f64),
    /// zscale's name of its HDR transfer function, if it has one.
    pub(super) tonemap: Option<&'static str>,
}

impl VideoSource {
    pub(super) fn of(
        input: &Input,
        rotation: i32,
        limits: &Limits,
    ) -> Result<VideoSource, MediaError> {
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
pub(super) fn open_video(
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
pub(super) fn fit(size: (f64, f64), bounds: (f64, f64), even: bool) -> (u32, u32) {
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
pub(super) fn filter_chain(
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
pub(super) fn zscale_available() -> bool {
    AVFilter::get_by_name(c"zscale").is_ok() && AVFilter::get_by_name(c"tonemap").is_ok()
}

/// Decoded video through a filter graph ([`filter_chain`]). The graph is rebuilt when the
/// decoded size or pixel format changes mid-stream; its filters turn each frame into one frame,
/// so none is held back at the end.
pub(super) struct VideoPipe {
    chain: CString,
    pub(super) time_base: AVRational,
    /// The graph and the (width, height, pixel format) it was built for.
    graph: Option<(AVFilterGraph, (c_int, c_int, c_int))>,
}

impl VideoPipe {
    pub(super) fn new(chain: &str, time_base: AVRational) -> Result<VideoPipe, MediaError> {
        let chain = CString::new(chain)
            .map_err(|_| MediaError::Invalid("the filter chain contains a NUL byte".into()))?;
        Ok(VideoPipe {
            chain,
            time_base,
            graph: None,
        })
    }

    /// Runs one decoded frame through the graph.
    pub(super) fn run(&mut self, frame: AVFrame) -> Result<Vec<AVFrame>, MediaError> {
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

pub(super) fn lost_filter() -> MediaError {
    MediaError::Invalid("the filter graph lost a filter".into())
}

/// A filter graph from a buffer source named "in" through `chain` to a sink named "out", for
/// frames like `frame`.
pub(super) fn build_graph(
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
pub(super) fn rgb_image(frame: &AVFrame) -> Result<RgbImage, MediaError> {
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
