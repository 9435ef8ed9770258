//! Pointwise (1x1) convolution for f32 NCHW models on CPUs with AVX-512, where most of the
//! mobile networks' arithmetic is (MobileFaceNet, YOLOX-Nano, EfficientNet-Lite0). tract 0.23
//! runs these as matrix products whose AVX-512 kernels hold 12 accumulators and load an operand
//! for every one or two multiply-adds, so they stay load-bound at about half the core's rate.
//! This op replaces tract's before it optimizes the model: `out[o][p] = bias[o] + Σ_k w[o][k] ·
//! x[k][p]` is computed in tiles of 8 output channels by 48 positions (24 accumulators), reading
//! each input row where it lies (positions are contiguous in NCHW, so nothing is packed at run
//! time) and the weights from a copy packed once at load, 8 channels per input channel. What
//! follows channel by channel (a bias or scale, a ReLU or clip, SiLU) is folded into the stores,
//! as tract folds it into its matrix products. Other CPUs keep tract's op.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName, ensure};
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::epilogue::{Fuses, Shared, Step, has_avx512, per_channel};
use super::onnx::f32_output;

/// Output channels per tile.
const ROWS: usize = 8;
/// f32 values per AVX-512 vector.
const LANES: usize = 16;
/// Vectors of positions per tile.
#[cfg(target_arch = "x86_64")]
const VECTORS: usize = 3;
/// Fewest positions per channel for this op: below two vectors most lanes idle, and tract's
/// matrix product, which runs along channels, is faster (YAMNet's last layers are 1024 channels
/// over 3x2 positions).
pub(super) const MIN_POSITIONS: usize = 2 * LANES;
/// Input values per chunk of positions: the chunk's columns of every input row stay in the
/// core's first-level cache while every block of output channels is computed from them. With
/// few input channels a chunk is several runs long, so that each output row is written in
/// longer stretches.
#[cfg(target_arch = "x86_64")]
const CHUNK_VALUES: usize = 4 * 1024;

/// A 1x1 convolution over one f32 `[1, K, H, W]` (or `[K, H, W]`) input with constant weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointwiseConv {
    /// Input shape as the model has it.
    input: TVec<usize>,
    /// Output channels.
    outputs: usize,
    /// The weights, packed as [`PlainConv`] says.
    weights: Shared,
    /// The bias of each output channel.
    bias: Shared,
    /// What is done to each output after the bias, in order.
    then: Vec<Step>,
}

/// What our pointwise and dense convolution ops take from a plain 2-D convolution: f32 NCHW
/// or CHW over one image, ungrouped, with constant weights and bias; only on CPUs with AVX-512.
pub(super) struct PlainConv {
    /// Input shape as the model has it.
    pub input: TVec<usize>,
    /// The weights in blocks of [`ROWS`] output channels: for each input row (input channel,
    /// then kernel tap) the block's weights for it (zeros past the last channel).
    pub weights: Shared,
    /// The bias of each output channel.
    pub bias: Shared,
}

impl PlainConv {
    /// `conv`'s parts, when it is such a convolution on such a CPU.
    pub(super) fn of(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
    ) -> TractResult<Option<PlainConv>> {
        let spec = &conv.pool_spec;
        let plain = has_avx512()
            && conv.q_params.is_none()
            && conv.group == 1
            && conv.kernel_fmt == KernelFormat::OIHW
            && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
            && spec.rank() == 2
            && node.inputs.len() == 3;
        if !plain {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let Some(input) = x.shape.as_concrete() else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type() || (input.len() == 4 && input[0] != 1) {
            return Ok(None);
        }
        let rows = conv.input_channels() * spec.kernel_shape.iter().product::<usize>();
        let outputs = conv.output_channels();
        let constant = |outlet: OutletId| -> TractResult<Option<Arc<Tensor>>> {
            let fact = model.outlet_fact(outlet)?;
            Ok(fact
                .konst
                .clone()
                .filter(|_| fact.datum_type == f32::datum_type()))
        };
        let (Some(weights), Some(bias)) = (constant(node.inputs[1])?, constant(node.inputs[2])?)
        else {
            return Ok(None);
        };
        if weights.len() != outputs * rows || !(bias.len() == 1 || bias.len() == outputs) {
            return Ok(None);
        }
        let weights = weights.try_as_plain_ram()?;
        let weights = weights.as_slice::<f32>()?;
        let bias = bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let mut packed = vec![0f32; outputs.div_ceil(ROWS) * rows * ROWS];
        for (o, row) in weights.chunks_exact(rows).enumerate() {
            let block = &mut packed[(o / ROWS) * rows * ROWS..][..rows * ROWS];
            for (r, &w) in row.iter().enumerate() {
                block[r * ROWS + o % ROWS] = w;
            }
        }
        Ok(Some(PlainConv {
            input: input.into(),
            weights: Shared(Arc::new(packed)),
            bias: Shared(Arc::new(per_channel(bias, outputs))),
        }))
    }
}

impl PointwiseConv {
    /// The op for `conv` when it is a plain 1x1 convolution (see [`PlainConv`]) without
    /// padding or stride, with enough positions per channel.
    pub(super) fn for_conv(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
    ) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        let pointwise = spec.kernel_shape.iter().all(|&k| k == 1)
            && (0..spec.rank()).all(|axis| spec.stride(axis) == 1 && spec.dilation(axis) == 1);
        if !pointwise {
            return Ok(None);
        }
        let Some(PlainConv {
            input,
            weights,
            bias,
        }) = PlainConv::of(model, node, conv)?
        else {
            return Ok(None);
        };
        let rank = input.len();
        if input[rank - 2] * input[rank - 1] < MIN_POSITIONS {
            return Ok(None);
        }
        let shape = spec.data_format.shape(&input)?;
        let unpadded = spec
            .computed_padding(shape.hw_dims())
            .iter()
            .all(|dim| dim.pad_before == 0 && dim.pad_after == 0);
        if !unpadded {
            return Ok(None);
        }
        Ok(Some(PointwiseConv {
            input,
            outputs: conv.output_channels(),
            weights,
            bias,
            then: Vec::new(),
        }))
    }

    /// Input channels and positions per channel.
    fn k_p(&self) -> (usize, usize) {
        let rank = self.input.len();
        (
            self.input[rank - 3],
            self.input[rank - 2] * self.input[rank - 1],
        )
    }
}

impl Fuses for PointwiseConv {
    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.input.clone();
        let rank = shape.len();
        shape[rank - 3] = self.outputs;
        shape
    }

    fn then(&self, step: Step) -> Self {
        let mut fused = self.clone();
        fused.then.push(step);
        fused
    }
}

impl Op for PointwiseConv {
    fn name(&self) -> StaticName {
        "AlcovesPointwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let then: Vec<_> = self.then.iter().map(|step| step.then).collect();
        Ok(vec![format!(
            "input {:?} outputs {} then {then:?}",
            self.input, self.outputs
        )])
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for PointwiseConv {
    // Elsewhere the op is never made (no AVX-512), and `ensure!` returns before the output.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let (k, p) = self.k_p();
        ensure!(x.len() == k * p, "input of {} values, not {k}x{p}", x.len());
        ensure!(has_avx512(), "a pointwise convolution needs AVX-512");
        // `convolve` stores every output once.
        f32_output(&self.output_shape(), |output| {
            // SAFETY: the CPU has AVX-512 (checked above); `x` holds k·p values, the packed
            // weights whole blocks for `self.outputs` channels, the bias one value each,
            // `output` outputs·p.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                let weights = (&self.weights.0[..], &self.bias.0[..]);
                avx512::convolve(x, (k, |r| r * p), p, weights, &self.then, output);
            }
            Ok(())
        })
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }
}

impl TypedOp for PointwiseConv {
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

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use super::{CHUNK_VALUES, LANES, ROWS, VECTORS};
    use crate::ml::epilogue::{Step, avx512::apply_all};

    /// `out[o][i] = bias[o] + Σ_r w[o][r] · x[row(r) + i]` for `r` below `k`, then each of
    /// `then`, tile by tile: the positions `i` in chunks whose input columns fit in cache, each
    /// chunk through every block of channels, in runs of up to `VECTORS` vectors (the last one
    /// masked). A 1x1 convolution's input rows are its channels, `p` apart; a dense one's are
    /// each channel's taps (see [`crate::ml::dense_conv`]).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds `row(r) + p` values for every `r` below `k`, `weights`
    /// whole blocks as [`super::PlainConv`] packs them and `bias` and `then` a value per output
    /// channel, and `out` is `outputs·p` long with `outputs` at most the blocks' channels.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn convolve(
        x: &[f32],
        (k, row): (usize, impl Fn(usize) -> usize + Copy),
        p: usize,
        (weights, bias): (&[f32], &[f32]),
        then: &[Step],
        out: &mut [f32],
    ) {
        let outputs = out.len() / p;
        debug_assert!((0..k).all(|r| row(r) + p <= x.len()));
        debug_assert!(weights.len() == outputs.div_ceil(ROWS) * ROWS * k);
        debug_assert!(bias.len() == outputs);
        let run = VECTORS * LANES;
        let chunk = (CHUNK_VALUES / k / run).max(1) * run;
        let tiles = Tiles {
            x: x.as_ptr(),
            row,
            p,
            bias,
            then,
            out: out.as_mut_ptr(),
        };
        for chunk_start in (0..p).step_by(chunk) {
            let chunk_end = (chunk_start + chunk).min(p);
            for first in (0..outputs).step_by(ROWS) {
                let panel = &weights[first * k..][..k * ROWS];
                let rows = (outputs - first).min(ROWS);
                for start in (chunk_start..chunk_end).step_by(run) {
                    let width = (chunk_end - start).min(run);
                    let last = mask(width % LANES);
                    // SAFETY: `width` positions from `start` are inside every row of `x` and
                    // `out`, and output rows `first..first + rows` exist.
                    unsafe {
                        match width.div_ceil(LANES) {
                            3 => tiles.tile::<3>(panel, first, rows, start, last),
                            2 => tiles.tile::<2>(panel, first, rows, start, last),
                            _ => tiles.tile::<1>(panel, first, rows, start, last),
                        }
                    }
                }
            }
        }
    }

    /// The lanes of the last vector: all of them, or the first `n`.
    fn mask(n: usize) -> __mmask16 {
        if n == 0 { 0xffff } else { (1u16 << n) - 1 }
    }

    /// What every tile reads and where it writes.
    struct Tiles<'a, R> {
        x: *const f32,
        /// Where each input row starts in `x`.
        row: R,
        /// Positions: values per output row.
        p: usize,
        bias: &'a [f32],
        then: &'a [Step],
        out: *mut f32,
    }

    impl<R: Fn(usize) -> usize> Tiles<'_, R> {
        /// Output channels `first..first + rows` (the block whose packed weights are `panel`)
        /// at `V` vectors of positions from `start`, the last vector's lanes as `last` says.
        #[target_feature(enable = "avx512f")]
        unsafe fn tile<const V: usize>(
            &self,
            panel: &[f32],
            first: usize,
            rows: usize,
            start: usize,
            last: __mmask16,
        ) {
            // Channels past the last start at zero and are not stored.
            let mut acc = [[_mm512_setzero_ps(); V]; ROWS];
            for (o, row) in acc.iter_mut().enumerate() {
                let bias = self.bias.get(first + o).copied().unwrap_or_default();
                *row = [_mm512_set1_ps(bias); V];
            }
            let p = self.p;
            for (r, w) in panel.chunks_exact(ROWS).enumerate() {
                let x = unsafe { self.x.add((self.row)(r) + start) };
                let mut column = [_mm512_setzero_ps(); V];
                for (v, lane) in column.iter_mut().enumerate() {
                    // SAFETY: the tile's vectors lie in this row of `x`; the last is masked to
                    // the tile's positions.
                    *lane = unsafe {
                        if v + 1 == V {
                            _mm512_maskz_loadu_ps(last, x.add(v * LANES))
                        } else {
                            _mm512_loadu_ps(x.add(v * LANES))
                        }
                    };
                }
                for (row, &w) in acc.iter_mut().zip(w) {
                    let w = _mm512_set1_ps(w);
                    for (acc, &x) in row.iter_mut().zip(&column) {
                        *acc = _mm512_fmadd_ps(x, w, *acc);
                    }
                }
            }
            // Rows and vectors by constant index, so that the accumulators stay in registers (a
            // loop over `rows` made the compiler store every one after every multiply-add).
            #[allow(clippy::needless_range_loop)]
            for o in 0..ROWS {
                if o >= rows {
                    break;
                }
                let dst = unsafe { self.out.add((first + o) * p + start) };
                for v in 0..V {
                    let value = apply_all(self.then, first + o, acc[o][v]);
                    // SAFETY: as for the loads, in output row `first + o`.
                    unsafe {
                        if v + 1 == V {
                            _mm512_mask_storeu_ps(dst.add(v * LANES), last, value);
                        } else {
                            _mm512_storeu_ps(dst.add(v * LANES), value);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::epilogue::Then;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math;
    use tract_onnx::tract_core::ops::nn::silu::silu;

    /// A 1x1 convolution followed by `then` (each with one value or one per channel), run by
    /// tract alone and with our rewrites, which must have made it one [`PointwiseConv`] with
    /// every step folded in; the largest difference, or `None` where this CPU has no AVX-512.
    fn difference(
        input: &[usize],
        outputs: usize,
        bias: usize,
        then: &[(Then, usize)],
    ) -> Option<f32> {
        let (rank, inputs) = (input.len(), input[input.len() - 3]);
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        let x = wave(input.iter().product(), 0.37);
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(input)).unwrap();
        let w = Tensor::from_shape(&[outputs, inputs, 1, 1], &wave(outputs * inputs, 0.11));
        let w = model.add_const("w", w.unwrap()).unwrap();
        // One bias for all channels is a scalar.
        let bias_shape: &[usize] = if bias == 1 { &[] } else { &[bias] };
        let b = Tensor::from_shape(bias_shape, &wave(bias, 0.7)).unwrap();
        let b = model.add_const("b", b).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: if rank == 4 {
                    DataFormat::NCHW
                } else {
                    DataFormat::CHW
                },
                kernel_shape: tvec!(1, 1),
                padding: PaddingSpec::Valid,
                dilations: None,
                strides: None,
                input_channels: inputs,
                output_channels: outputs,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let mut wire = model.wire_node("pw", conv, &[source, w, b]).unwrap()[0];
        for (i, &(then, n)) in then.iter().enumerate() {
            let name = format!("then{i}");
            if then == Then::Silu {
                wire = model.wire_node(name, silu(), &[wire]).unwrap()[0];
                continue;
            }
            let mut shape = vec![1; rank];
            shape[rank - 3] = n;
            // Never zero, or tract would fold a multiplication away.
            let values: Vec<f32> = wave(n, 0.3 + i as f32)
                .iter()
                .map(|v| 0.5 + 0.25 * v)
                .collect();
            let c = Tensor::from_shape(&shape, &values).unwrap();
            let c = model.add_const(format!("c{i}"), c).unwrap();
            let op = match then {
                Then::Add => math::add(),
                Then::Mul => math::mul(),
                Then::Max => math::max(),
                Then::Min => math::min(),
                Then::Silu => unreachable!("wired above"),
            };
            wire = model.wire_node(name, op, &[wire, c]).unwrap()[0];
        }
        model.select_output_outlets(&[wire]).unwrap();
        if !has_avx512() {
            return None;
        }
        let mut ours = model.clone();
        crate::ml::onnx::before_declutter(&mut ours).unwrap();
        let mut ours = ours.into_decluttered().unwrap();
        crate::ml::onnx::rewrite(&mut ours).unwrap();
        let ops: Vec<&PointwiseConv> = ours
            .nodes
            .iter()
            .filter_map(|n| n.op_as::<PointwiseConv>())
            .collect();
        // Too few positions are left to tract.
        let positions = input[rank - 2] * input[rank - 1];
        assert_eq!(ops.len(), usize::from(positions >= MIN_POSITIONS), "{ours}");
        if let Some(op) = ops.first() {
            assert_eq!(op.then.len(), then.len(), "{ours}");
        }
        Some(crate::ml::onnx::largest_difference(model, ours, input, &x))
    }

    /// Input shape, output channels, bias values, and what follows with its number of values.
    type Case<'a> = (Vec<usize>, usize, usize, &'a [(Then, usize)]);

    #[test]
    fn matches_tracts_pointwise_convolution() {
        // Positions: whole runs, a masked last vector, two or three vectors, too few for us;
        // channels: whole blocks and a part block; one bias for all or one each; then nothing,
        // a scale, shift and ReLU (a batch norm), a clip, SiLU.
        let norm = [(Then::Mul, 32), (Then::Add, 32), (Then::Max, 1)];
        let clip = [(Then::Max, 1), (Then::Min, 1)];
        let cases: [Case; 9] = [
            (vec![1, 16, 56, 56], 32, 32, &norm),
            (vec![1, 64, 14, 14], 128, 128, &clip),
            (vec![1, 320, 7, 7], 1280, 1280, &clip),
            (vec![1, 12, 5, 7], 13, 13, &[]),
            (
                vec![1, 40, 13, 13],
                24,
                24,
                &[(Then::Mul, 24), (Then::Silu, 0)],
            ),
            (vec![1, 3, 4, 9], 9, 1, &[(Then::Add, 9)]),
            (vec![7, 5, 7], 5, 5, &[]),
            (vec![1, 64, 3, 2], 32, 32, &clip),
            (vec![24, 3, 11], 20, 1, &[(Then::Mul, 1), (Then::Min, 20)]),
        ];
        for (input, outputs, bias, then) in cases {
            match difference(&input, outputs, bias, then) {
                Some(d) => assert!(d < 1e-4, "{input:?} -> {outputs} {then:?}: differs by {d}"),
                None => eprintln!("this CPU has no AVX-512: tract's own op runs"),
            }
        }
    }
}
