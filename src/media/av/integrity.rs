//! Whether a file is what its header says: an index that points past the end of the file (a
//! copy cut short), or a stated duration far beyond what the streams hold.

use std::ffi::c_int;

use rsmpeg::avutil::av_rescale_q;
use rsmpeg::ffi;

use super::input::Input;
use crate::media::{Limits, MediaError};

/// Where a file cut short stops playing, in microseconds from its start, when the index of one
/// of `streams` lists packets that lie (partly) past the file's `len` bytes; `None` for a
/// whole file or one without an index.
pub(super) fn cut_short_at(input: &Input, streams: &[usize], len: u64) -> Option<i64> {
    streams
        .iter()
        .filter_map(|&index| {
            let st = input.stream(index)?;
            let raw = st.as_ptr().cast_mut();
            // SAFETY: `raw` is a stream of the open context; these calls only read its index.
            let count = unsafe { ffi::avformat_index_get_entries_count(raw) };
            (0..count).find_map(|i: c_int| {
                // SAFETY: `i` is below the entry count; the entry lives as long as the context.
                let entry = unsafe { ffi::avformat_index_get_entry(raw, i).as_ref() }?;
                let end = u64::try_from(entry.pos).ok()? + u64::try_from(entry.size()).ok()?;
                (end > len).then(|| {
                    av_rescale_q(entry.timestamp, st.time_base, ffi::AV_TIME_BASE_Q)
                        - input.start_us()
                })
            })
        })
        .min()
        .map(|us| us.max(0))
}

/// How long `streams` really last, read from their packets' timestamps (nothing is decoded):
/// `None` when they too run past `max_us`.
pub(super) fn measured_us(
    input: &mut Input,
    streams: &[usize],
    limits: &Limits,
    max_us: i64,
) -> Result<Option<i64>, MediaError> {
    let start_us = input.start_us();
    let time_bases: Vec<_> = streams
        .iter()
        .filter_map(|&i| Some((i, input.stream(i)?.time_base)))
        .collect();
    let mut end_us = 0;
    for n in 0u64.. {
        if n % 256 == 0 {
            limits.check_time()?;
        }
        let packet = match input.ctx.read_packet() {
            Ok(Some(packet)) => packet,
            Err(err) if err.raw_error() == Some(ffi::AVERROR_EXIT) => {
                return Err(MediaError::TimedOut);
            }
            // The end, or damage past which nothing more is read.
            Ok(None) | Err(_) => break,
        };
        let index = usize::try_from(packet.stream_index).ok();
        let Some(&(_, time_base)) = time_bases.iter().find(|(i, _)| Some(*i) == index) else {
            continue;
        };
        let ts = if packet.pts != ffi::AV_NOPTS_VALUE {
            packet.pts
        } else {
            packet.dts
        };
        if ts == ffi::AV_NOPTS_VALUE {
            continue;
        }
        let end = ts.saturating_add(packet.duration.max(0));
        end_us = end_us.max(av_rescale_q(end, time_base, ffi::AV_TIME_BASE_Q) - start_us);
        if end_us > max_us {
            return Ok(None);
        }
    }
    Ok(Some(end_us))
}
