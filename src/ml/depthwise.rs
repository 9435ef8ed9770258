//! Depthwise convolution for the mobile networks (MobileFaceNet, YOLOX-Nano, EfficientNet-Lite):
//! one 3x3/5x5/7x7 filter per channel, which tract 0.23 walks output point by output point
//! through padding zones at about 1 GFLOP/s. This op replaces tract's own for f32 NCHW models
//! before tract optimizes them: each channel's plane is copied once into a zero-padded buffer,
//! so that every output row, borders included, is one contiguous run of every kernel tap,
//! computed in whole vectors. A stride splits the padded plane into phases (even and odd rows
//! and columns for 2), so that neighbouring outputs still read neighbouring values.
//! - With AVX-512, four vectors of outputs stay in registers through every tap, and what follows
//!   channel by channel (a clip, SiLU, a batch norm) is applied there before the store.
//! - Elsewhere, tract-linalg's own row kernel (AVX on x86-64, NEON on arm64, chosen at run time)
//!   adds one tap at a time into memory, and what follows is a pass over each channel's outputs
//!   while they are in cache.
//! - CPUs with neither (a Celeron J4125 has no AVX) take a plain loop.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName};
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg;
use tract_onnx::tract_core::tract_linalg::routines::DepthwiseWF32;

use super::epilogue::{Fuses, Step, apply_all};
use super::onnx::f32_output;
use super::phases::Phases;

/// Output rows are computed in whole multiples of this many values (tract-linalg's vector); the
/// padded plane has as much slack after it, so the last row's extra values read inside it.
const LANES: usize = 8;

/// A depthwise convolution over one f32 NCHW (or CHW) input: inputs are the data, the kernel
/// `[C, 1, KH, KW]` and the bias (`[C]` or one value for all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthwiseConv {
    /// Input shape as the model has it (`[N, C, H, W]` or `[C, H, W]`).
    input: TVec<usize>,
    /// Each channel's plane.
    plane: Phases,
    /// What is done to each output after the bias, in order.
    then: Vec<Step>,
}

impl DepthwiseConv {
    /// The op for `conv` when it is a plain f32 depthwise convolution with constant weights.
    pub(super) fn for_conv(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
    ) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        let channels = conv.input_channels();
        let plain = conv.q_params.is_none()
            && conv.kernel_fmt == KernelFormat::OIHW
            && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
            && spec.rank() == 2
            && channels > 1
            && conv.group == channels
            && conv.output_channels() == channels
            && node.inputs.len() == 3;
        if !plain {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let Some(input) = x.shape.as_concrete() else {
            return Ok(None);
        };
        let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
        let constant_f32 = |outlet: OutletId, lens: &[usize]| -> TractResult<bool> {
            let fact = model.outlet_fact(outlet)?;
            let len = fact.shape.volume().as_i64();
            Ok(fact.datum_type == f32::datum_type()
                && fact.konst.is_some()
                && lens.iter().any(|&n| len == Some(n as i64)))
        };
        if x.datum_type != f32::datum_type()
            || !constant_f32(node.inputs[1], &[channels * kh * kw])?
            || !constant_f32(node.inputs[2], &[1, channels])?
        {
            return Ok(None);
        }
        let Some(plane) = Phases::of(spec, input)? else {
            return Ok(None);
        };
        Ok(Some(DepthwiseConv {
            input: input.into(),
            plane,
            then: Vec::new(),
        }))
    }
}

impl Fuses for DepthwiseConv {
    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.input.clone();
        let rank = shape.len();
        (shape[rank - 2], shape[rank - 1]) = self.plane.out;
        shape
    }

    fn then(&self, step: Step) -> Self {
        let mut fused = self.clone();
        fused.then.push(step);
        fused
    }
}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        "AlcovesDepthwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "input {:?} {:?} then {:?}",
            self.input,
            self.plane,
            self.then.iter().map(|step| step.then).collect::<Vec<_>>()
        )])
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for DepthwiseConv {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let f32s = |at: usize| inputs[at].try_as_plain_ram()?.as_slice::<f32>();
        let (x, kernel, bias) = (f32s(0)?, f32s(1)?, f32s(2)?);
        let ((h, w), (oh, ow)) = (self.plane.input, self.plane.out);
        let (kh, kw) = self.plane.kernel;
        let mut padded = vec![0f32; self.plane.len() + LANES];
        let offsets = self.plane.offsets();
        let mut rows_of = Rows::new(&self.plane);
        // Each channel's outputs are written whole by `run`, then changed in place.
        f32_output(&self.output_shape(), |output| {
            let planes = x.chunks_exact(h * w).zip(output.chunks_exact_mut(oh * ow));
            for (c, (plane, out)) in planes.enumerate() {
                let channel = c % (kernel.len() / (kh * kw));
                self.plane.fill(plane, &mut padded);
                let weights = &kernel[channel * kh * kw..][..kh * kw];
                let bias = bias[channel % bias.len()];
                let then = (&self.then[..], channel);
                rows_of.run(&padded, weights, &offsets, bias, then, out);
            }
            Ok(())
        })
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }
}

impl TypedOp for DepthwiseConv {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output_shape())))
    }
}

/// Computes one channel's outputs from its padded plane:
/// `out[y][x] = bias + Σ weight[t] · padded[offset[t] + y·cols + x]`.
///
/// The kernel runs over the whole plane as one stretch at unit stride (the columns past a row's
/// last output are computed and dropped), so that the small 14x14 and 7x7 planes of a network's
/// last layers still run in long vectors; a stride is taken care of by the plane's phases.
struct Rows {
    /// How the stretch is computed on this CPU.
    kernel: Kernel,
    /// One stretch, rounded up to whole vectors so the kernel never takes its scalar tail.
    stretch: Vec<f32>,
    /// The plane the stretch is of.
    plane: Phases,
}

impl Rows {
    fn new(plane: &Phases) -> Rows {
        Rows {
            kernel: Kernel::best(),
            stretch: vec![0.0; plane.stretch().next_multiple_of(LANES)],
            plane: *plane,
        }
    }

    fn run(
        &mut self,
        padded: &[f32],
        weights: &[f32],
        offsets: &[isize],
        bias: f32,
        (then, channel): (&[Step], usize),
        out: &mut [f32],
    ) {
        let len = self.stretch.len();
        let reach = offsets.iter().copied().max().unwrap_or(0) as usize;
        // The rounding reads at most `LANES - 1` values of the slack after the plane.
        assert!(reach + len <= padded.len());
        let input = padded.as_ptr();
        // Whether `then` was applied in registers.
        let applied = match self.kernel {
            // SAFETY: as asserted, every offset + x below `len` is inside `padded`, and
            // `stretch` holds `len` values; the CPU has AVX-512.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe {
                avx512::taps(
                    input,
                    &mut self.stretch,
                    weights,
                    offsets,
                    bias,
                    then,
                    channel,
                );
                true
            },
            // SAFETY: as above.
            Kernel::Linalg(kernel) => unsafe {
                let stretch = self.stretch.as_mut_ptr();
                kernel(input, stretch, weights, offsets, bias, len, 1);
                false
            },
            Kernel::Plain => {
                self.stretch.fill(bias);
                for (&weight, &offset) in weights.iter().zip(offsets) {
                    let src = &padded[offset as usize..][..len];
                    for (acc, &x) in self.stretch.iter_mut().zip(src) {
                        *acc += weight * x;
                    }
                }
                false
            }
        };
        self.plane.unstretch(&self.stretch, out);
        if !applied {
            apply_all(then, channel, out);
        }
    }
}

/// The ways of computing a stretch, fastest first.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    /// Ours, with AVX-512.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// tract-linalg's vectorised row kernel for this CPU (AVX on x86-64, NEON on arm64).
    Linalg(DepthwiseWF32),
    /// A loop the compiler vectorises as it can.
    Plain,
}

impl Kernel {
    /// The fastest this CPU has.
    fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Kernel::Avx512;
        }
        tract_linalg::routines::depthwise_w_f32().map_or(Kernel::Plain, Kernel::Linalg)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use crate::ml::epilogue::{Step, avx512::apply_all};

    /// Output vectors held in registers through every tap.
    const VECTORS: usize = 4;

    /// `stretch[i] = bias + Σ_t weights[t] · input[offsets[t] + i]`, then each of `then` for
    /// `channel`, `VECTORS` vectors at a time (the last ones masked to the stretch).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `input + offsets[t] + i` is readable for every tap `t` and every
    /// `i` below `stretch.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn taps(
        input: *const f32,
        stretch: &mut [f32],
        weights: &[f32],
        offsets: &[isize],
        bias: f32,
        then: &[Step],
        channel: usize,
    ) {
        let len = stretch.len();
        for start in (0..len).step_by(VECTORS * 16) {
            let masks: [__mmask16; VECTORS] = std::array::from_fn(|v| {
                let lanes = (len - start).saturating_sub(v * 16).min(16);
                ((1u32 << lanes) - 1) as u16
            });
            let mut acc = [_mm512_set1_ps(bias); VECTORS];
            for (&w, &offset) in weights.iter().zip(offsets) {
                let w = _mm512_set1_ps(w);
                let src = input.wrapping_offset(offset).wrapping_add(start);
                for (v, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: the mask keeps the load to this tap's readable values.
                    let x = unsafe { _mm512_maskz_loadu_ps(masks[v], src.wrapping_add(v * 16)) };
                    *acc = _mm512_fmadd_ps(x, w, *acc);
                }
            }
            let dst = stretch.as_mut_ptr().wrapping_add(start);
            for (v, acc) in acc.iter().enumerate() {
                // SAFETY: the mask keeps the store inside `stretch`.
                let value = apply_all(then, channel, *acc);
                unsafe { _mm512_mask_storeu_ps(dst.wrapping_add(v * 16), masks[v], value) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

    /// One depthwise convolution, run by tract's own op and by ours; the largest difference.
    fn difference(
        input: &[usize],
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: PaddingSpec,
    ) -> f32 {
        let chw = &input[input.len() - 3..];
        let channels = chw[0];
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        let x = wave(input.iter().product(), 0.37);
        let k = wave(channels * kernel.0 * kernel.1, 0.11);
        let b = wave(channels, 0.7);
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(input)).unwrap();
        let k = Tensor::from_shape(&[channels, 1, kernel.0, kernel.1], &k).unwrap();
        let k = model.add_const("k", k).unwrap();
        let b = model.add_const("b", Tensor::from_shape(&[channels], &b).unwrap());
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: if input.len() == 4 {
                    DataFormat::NCHW
                } else {
                    DataFormat::CHW
                },
                kernel_shape: tvec!(kernel.0, kernel.1),
                padding,
                dilations: Some(tvec!(dilation.0, dilation.1)),
                strides: Some(tvec!(stride.0, stride.1)),
                input_channels: channels,
                output_channels: channels,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: channels,
            q_params: None,
        };
        let out = model
            .wire_node("dw", conv, &[source, k, b.unwrap()])
            .unwrap();
        model.select_output_outlets(&out).unwrap();
        let mut ours = model.clone();
        crate::ml::onnx::rewrite(&mut ours).unwrap();
        assert!(ours.nodes.iter().any(|n| n.op_is::<DepthwiseConv>()));
        crate::ml::onnx::largest_difference(model, ours, input, &x)
    }

    #[test]
    fn the_plain_loop_matches_the_vector_kernel() {
        let op = Phases {
            input: (9, 13),
            out: (5, 7),
            kernel: (3, 3),
            stride: (2, 2),
            dilation: (1, 1),
            pad_before: (1, 1),
        };
        let plane: Vec<f32> = (0..9 * 13).map(|i| (i as f32 * 0.3).cos()).collect();
        let mut padded = vec![0f32; op.len() + LANES];
        op.fill(&plane, &mut padded);
        let weights = [0.5, -1.0, 0.25, 2.0, 1.5, -0.75, 0.1, 0.2, -0.3];
        let linalg = tract_linalg::routines::depthwise_w_f32().expect("tract-linalg's kernel");
        let kernels = [Kernel::best(), Kernel::Linalg(linalg)];
        assert!(
            !matches!(kernels[0], Kernel::Plain),
            "this CPU has a vector kernel"
        );
        let mut plain = Rows {
            kernel: Kernel::Plain,
            ..Rows::new(&op)
        };
        let mut b = vec![0f32; 35];
        plain.run(&padded, &weights, &op.offsets(), 0.125, (&[], 0), &mut b);
        let mut a = vec![0f32; 35];
        for kernel in kernels {
            let mut vector = Rows {
                kernel,
                ..Rows::new(&op)
            };
            vector.run(&padded, &weights, &op.offsets(), 0.125, (&[], 0), &mut a);
            assert!(
                a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-6),
                "{kernel:?}: {a:?} vs {b:?}"
            );
        }
        // Output (0, 0) reads rows -1..1 and columns -1..1 of the plane: zeros, then the plane.
        let p = |y: usize, x: usize| plane[y * 13 + x];
        let expected = 0.125 + 1.5 * p(0, 0) - 0.75 * p(0, 1) + 0.2 * p(1, 0) - 0.3 * p(1, 1);
        assert!((a[0] - expected).abs() < 1e-6);
    }

    #[test]
    fn matches_tracts_depthwise_convolution() {
        let explicit = |t, l, b, r| PaddingSpec::Explicit(tvec!(t, l), tvec!(b, r));
        let cases = [
            (
                vec![1, 8, 56, 56],
                (3, 3),
                (1, 1),
                (1, 1),
                explicit(1, 1, 1, 1),
            ),
            (
                vec![1, 8, 56, 56],
                (3, 3),
                (2, 2),
                (1, 1),
                explicit(1, 1, 1, 1),
            ),
            (
                vec![1, 5, 7, 7],
                (5, 5),
                (1, 1),
                (1, 1),
                explicit(2, 2, 2, 2),
            ),
            (
                vec![1, 4, 112, 112],
                (3, 3),
                (2, 2),
                (1, 1),
                explicit(0, 0, 1, 1),
            ),
            (
                vec![1, 6, 56, 56],
                (5, 5),
                (2, 2),
                (1, 1),
                explicit(1, 1, 2, 2),
            ),
            (
                vec![1, 16, 7, 7],
                (7, 7),
                (1, 1),
                (1, 1),
                PaddingSpec::Valid,
            ),
            (
                vec![2, 3, 20, 33],
                (3, 5),
                (1, 3),
                (2, 1),
                PaddingSpec::SameUpper,
            ),
            (
                vec![3, 19, 17],
                (3, 3),
                (2, 1),
                (1, 2),
                PaddingSpec::SameLower,
            ),
            (
                vec![1, 2, 1, 40],
                (1, 3),
                (1, 2),
                (1, 1),
                PaddingSpec::Valid,
            ),
        ];
        for (input, kernel, stride, dilation, padding) in cases {
            let case = format!("{input:?} {kernel:?} {stride:?} {dilation:?} {padding:?}");
            let difference = difference(&input, kernel, stride, dilation, padding);
            assert!(difference < 1e-5, "{case}: differs by {difference}");
        }
    }
}
