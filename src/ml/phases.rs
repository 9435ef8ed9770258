//! The input plane of a convolution, zero-padded and split into phases, as our depthwise and
//! dense convolution ops read it. With a stride the padded plane is kept as `stride.0 ×
//! stride.1` phases: phase `(py, px)` holds the padded rows `py, py + stride.0, …` and of those
//! the columns `px, px + stride.1, …`. Every kernel tap then reads neighbouring values of one
//! phase for neighbouring outputs, so all the outputs of a plane are one unit-stride stretch:
//! output `(y, x)` is at `y · cols + x` of it, `cols` being a phase's row length (the values past
//! a row's last output are computed and dropped).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::PoolSpec;

/// The geometry of one plane of a 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// Input height and width.
    pub input: (usize, usize),
    /// Output height and width.
    pub out: (usize, usize),
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    /// Zero rows above and columns left of the input.
    pub pad_before: (usize, usize),
}

impl Phases {
    /// The plane of `spec` over an NCHW or CHW `input`, unless it has no outputs.
    pub fn of(spec: &PoolSpec, input: &[usize]) -> TractResult<Option<Phases>> {
        let shape = spec.data_format.shape(input)?;
        let hw = shape.hw_dims();
        let padding = spec.computed_padding(hw);
        if hw.len() != 2 || padding.iter().any(|dim| dim.convoluted == 0) {
            return Ok(None);
        }
        Ok(Some(Phases {
            input: (hw[0], hw[1]),
            out: (padding[0].convoluted, padding[1].convoluted),
            kernel: (spec.kernel_shape[0], spec.kernel_shape[1]),
            stride: (spec.stride(0), spec.stride(1)),
            dilation: (spec.dilation(0), spec.dilation(1)),
            pad_before: (padding[0].pad_before, padding[1].pad_before),
        }))
    }

    /// The rows and columns of each phase: what the outputs read, no more.
    pub fn shape(&self) -> (usize, usize) {
        let (oh, ow) = self.out;
        let (kh, kw) = self.kernel;
        let rows = oh + (kh - 1) * self.dilation.0 / self.stride.0;
        let cols = ow + (kw - 1) * self.dilation.1 / self.stride.1;
        (rows, cols)
    }

    /// Values in the padded plane, every phase.
    pub fn len(&self) -> usize {
        let (rows, cols) = self.shape();
        self.stride.0 * self.stride.1 * rows * cols
    }

    /// Values in the stretch that holds every output.
    pub fn stretch(&self) -> usize {
        let (_, cols) = self.shape();
        (self.out.0 - 1) * cols + self.out.1
    }

    /// Copies one input plane into `padded` (at least [`Phases::len`] long). Only the plane's
    /// own values are written, so the zeros around it, written once when the buffer was made,
    /// stay for every channel.
    pub fn fill(&self, plane: &[f32], padded: &mut [f32]) {
        let (h, w) = self.input;
        let (rows, cols) = self.shape();
        let (top, left) = self.pad_before;
        let (sy, sx) = self.stride;
        for (y, src) in plane.chunks_exact(w).take(h).enumerate() {
            let (py, row) = ((y + top) % sy, (y + top) / sy);
            if row >= rows {
                break;
            }
            for px in 0..sx {
                // The first input column of this phase, and where it lands.
                let first = (px + sx - left % sx) % sx;
                let col = (first + left) / sx;
                let phase = &mut padded[(py * sx + px) * rows * cols..][..rows * cols];
                let dst = &mut phase[row * cols..][..cols];
                let src = src.get(first..).unwrap_or_default();
                every_nth(sx, src, &mut dst[col.min(cols)..]);
            }
        }
    }

    /// Where each kernel tap reads in the padded plane for output (0, 0), tap by tap row-major.
    pub fn offsets(&self) -> Vec<isize> {
        let (rows, cols) = self.shape();
        let (kh, kw) = self.kernel;
        let (sy, sx) = self.stride;
        let (dy, dx) = self.dilation;
        (0..kh * kw)
            .map(|tap| {
                let (y, x) = ((tap / kw) * dy, (tap % kw) * dx);
                let phase = (y % sy) * sx + x % sx;
                (phase * rows * cols + (y / sy) * cols + x / sx) as isize
            })
            .collect()
    }

    /// Copies the outputs of one plane out of its stretch.
    pub fn unstretch(&self, stretch: &[f32], out: &mut [f32]) {
        let (_, cols) = self.shape();
        let width = self.out.1;
        for (out_row, row) in out.chunks_exact_mut(width).zip(stretch.chunks(cols)) {
            out_row.copy_from_slice(&row[..width]);
        }
    }
}

/// Copies `src[0], src[n], src[2n], …` into `dst` as far as both go: a whole copy for 1, pairs
/// for 2 (both vectorised), one by one otherwise.
fn every_nth(n: usize, src: &[f32], dst: &mut [f32]) {
    match n {
        1 => {
            let len = src.len().min(dst.len());
            dst[..len].copy_from_slice(&src[..len]);
        }
        2 => {
            let pairs = src.chunks_exact(2);
            let (whole, last) = (pairs.len(), pairs.remainder().first().copied());
            for (d, pair) in dst.iter_mut().zip(pairs) {
                *d = pair[0];
            }
            if let (Some(v), Some(d)) = (last, dst.get_mut(whole)) {
                *d = v;
            }
        }
        _ => {
            for (d, &v) in dst.iter_mut().zip(src.iter().step_by(n)) {
                *d = v;
            }
        }
    }
}
