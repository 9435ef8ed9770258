//! Pointwise (1x1) convolution for f32 NCHW models on CPUs with AVX-512, where most of the
//! mobile networks' arithmetic is (MobileFaceNet, YOLOX-Nano, EfficientNet-Lite0). tract 0.23
//! runs these as matrix products whose AVX-512 kernels hold 12 accumulators and load an operand
//! for every one or two multiply-adds, so they stay load-bound at about half the core's rate.
//! This op replaces tract's before it optimizes the model: `out[o][p] = bias[o] + Σ_k w[o][k] ·
//! x[k][p]` is computed in tiles of 8 output channels by 48 positions (24 accumulators), reading
//! each input row where it lies (positions are contiguous in NCHW, so nothing is packed at run
//! time) and the weights from a copy packed once at load, 8 channels per input channel. Other
//! CPUs keep tract's op.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName, ensure};
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Output channels per tile.
const ROWS: usize = 8;
/// f32 values per AVX-512 vector.
const LANES: usize = 16;
/// Vectors of positions per tile.
const VECTORS: usize = 3;

/// A 1x1 convolution over one f32 `[1, K, H, W]` (or `[K, H, W]`) input with constant weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointwiseConv {
    /// Input shape as the model has it.
    input: TVec<usize>,
    /// Output channels.
    outputs: usize,
    /// The weights in blocks of [`ROWS`] output channels: for each block and input channel, the
    /// block's weights for it (zeros past the last channel).
    weights: Packed,
    /// The bias of each output channel, zeros up to a whole block.
    bias: Packed,
}

/// Weights packed once at load; equal when they are the same buffer.
#[derive(Clone)]
struct Packed(Arc<Vec<f32>>);

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Packed {}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} packed values", self.0.len())
    }
}

impl PointwiseConv {
    /// The op for `conv` when it is a plain f32 1x1 convolution with constant weights over one
    /// image, and this CPU has AVX-512.
    pub(super) fn for_conv(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
    ) -> TractResult<Option<Self>> {
        if !has_avx512() {
            return Ok(None);
        }
        let spec = &conv.pool_spec;
        let plain = conv.q_params.is_none()
            && conv.group == 1
            && conv.kernel_fmt == KernelFormat::OIHW
            && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
            && spec.rank() == 2
            && spec.kernel_shape.iter().all(|&k| k == 1)
            && (0..2).all(|axis| spec.stride(axis) == 1 && spec.dilation(axis) == 1)
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
        let shape = spec.data_format.shape(input)?;
        let unpadded = spec
            .computed_padding(shape.hw_dims())
            .iter()
            .all(|dim| dim.pad_before == 0 && dim.pad_after == 0);
        let (inputs, outputs) = (conv.input_channels(), conv.output_channels());
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
        let bias_len = bias.len();
        if !unpadded || weights.len() != outputs * inputs || !(bias_len == 1 || bias_len == outputs)
        {
            return Ok(None);
        }
        let weights = weights.try_as_plain_ram()?;
        let weights = weights.as_slice::<f32>()?;
        let bias = bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let blocks = outputs.div_ceil(ROWS);
        let mut packed = vec![0f32; blocks * inputs * ROWS];
        for (o, row) in weights.chunks_exact(inputs).enumerate() {
            let block = &mut packed[(o / ROWS) * inputs * ROWS..][..inputs * ROWS];
            for (k, &w) in row.iter().enumerate() {
                block[k * ROWS + o % ROWS] = w;
            }
        }
        let mut padded_bias = vec![0f32; blocks * ROWS];
        for (o, b) in padded_bias.iter_mut().take(outputs).enumerate() {
            *b = bias[o % bias_len];
        }
        Ok(Some(PointwiseConv {
            input: input.into(),
            outputs,
            weights: Packed(Arc::new(packed)),
            bias: Packed(Arc::new(padded_bias)),
        }))
    }

    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.input.clone();
        let rank = shape.len();
        shape[rank - 3] = self.outputs;
        shape
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

impl Op for PointwiseConv {
    fn name(&self) -> StaticName {
        "AlcovesPointwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "input {:?} outputs {}",
            self.input, self.outputs
        )])
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for PointwiseConv {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let (k, p) = self.k_p();
        ensure!(x.len() == k * p, "input of {} values, not {k}x{p}", x.len());
        let mut output = vec![0f32; self.outputs * p];
        ensure!(has_avx512(), "a pointwise convolution needs AVX-512");
        // SAFETY: the CPU has AVX-512 (checked above); `x` holds k·p values, the packed
        // weights and bias whole blocks for `self.outputs` channels, `output` outputs·p.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::convolve(x, k, p, &self.weights.0, &self.bias.0, &mut output);
        }
        let output = tract_ndarray::ArrayD::from_shape_vec(&*self.output_shape(), output)?;
        Ok(tvec!(output.into_tvalue()))
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
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{LANES, ROWS, VECTORS};

    /// `out[o][p] = bias[o] + Σ_k w[o][k] · x[k][p]`, tile by tile: positions in runs of up to
    /// `VECTORS` vectors (the last one masked), each run through every block of channels while
    /// its input columns are in cache.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds `k·p` values, `weights` and `bias` whole blocks as
    /// [`super::PointwiseConv`] packs them, and `out` is `outputs·p` long with `outputs` at
    /// most the blocks' channels.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn convolve(
        x: &[f32],
        k: usize,
        p: usize,
        weights: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        let outputs = out.len() / p;
        debug_assert!(x.len() == k * p && weights.len() == bias.len() * k);
        debug_assert!(bias.len() >= outputs && bias.len() % ROWS == 0);
        let mut start = 0;
        while start < p {
            let width = (p - start).min(VECTORS * LANES);
            let run = Run {
                x: unsafe { x.as_ptr().add(start) },
                k,
                p,
                last: mask(width % LANES),
            };
            let out = unsafe { out.as_mut_ptr().add(start) };
            // SAFETY: `width` positions from `start` are inside every row of `x` and `out`.
            unsafe {
                match width.div_ceil(LANES) {
                    3 => run.blocks::<3>(weights, bias, outputs, out),
                    2 => run.blocks::<2>(weights, bias, outputs, out),
                    _ => run.blocks::<1>(weights, bias, outputs, out),
                }
            }
            start += width;
        }
    }

    /// The lanes of the last vector: all of them, or the first `n`.
    fn mask(n: usize) -> __mmask16 {
        if n == 0 { 0xffff } else { (1u16 << n) - 1 }
    }

    /// One run of positions: where it starts in the input's first row, and the rows' layout.
    struct Run {
        x: *const f32,
        k: usize,
        p: usize,
        /// Lanes of the run's last vector that are positions.
        last: __mmask16,
    }

    impl Run {
        /// Every block of output channels for this run of `V` vectors.
        #[target_feature(enable = "avx512f")]
        unsafe fn blocks<const V: usize>(
            &self,
            weights: &[f32],
            bias: &[f32],
            outputs: usize,
            out: *mut f32,
        ) {
            for (block, bias) in bias.chunks_exact(ROWS).enumerate() {
                let first = block * ROWS;
                if first >= outputs {
                    break;
                }
                let panel = &weights[block * self.k * ROWS..][..self.k * ROWS];
                let mut acc = [[_mm512_setzero_ps(); V]; ROWS];
                for (row, &b) in acc.iter_mut().zip(bias) {
                    *row = [_mm512_set1_ps(b); V];
                }
                let mut x = self.x;
                for w in panel.chunks_exact(ROWS) {
                    let mut column = [_mm512_setzero_ps(); V];
                    for (v, lane) in column.iter_mut().enumerate() {
                        // SAFETY: the run's vectors lie in this row of `x`; the last is
                        // masked to the run's positions.
                        *lane = unsafe {
                            if v + 1 == V {
                                _mm512_maskz_loadu_ps(self.last, x.add(v * LANES))
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
                    x = unsafe { x.add(self.p) };
                }
                for (o, row) in acc.iter().enumerate().take(outputs - first) {
                    let dst = unsafe { out.add((first + o) * self.p) };
                    for (v, &acc) in row.iter().enumerate() {
                        // SAFETY: as for the loads, in output row `first + o`.
                        unsafe {
                            if v + 1 == V {
                                _mm512_mask_storeu_ps(dst.add(v * LANES), self.last, acc);
                            } else {
                                _mm512_storeu_ps(dst.add(v * LANES), acc);
                            }
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
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

    /// One 1x1 convolution, run by tract's own op and by ours; the largest difference, or
    /// `None` where this CPU has no AVX-512.
    fn difference(input: &[usize], outputs: usize, bias: usize) -> Option<f32> {
        let inputs = input[input.len() - 3];
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        let x = wave(input.iter().product(), 0.37);
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(input)).unwrap();
        let w = Tensor::from_shape(&[outputs, inputs, 1, 1], &wave(outputs * inputs, 0.11));
        let w = model.add_const("w", w.unwrap()).unwrap();
        let b = Tensor::from_shape(&[bias], &wave(bias, 0.7)).unwrap();
        let b = model.add_const("b", b).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: if input.len() == 4 {
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
        let out = model.wire_node("pw", conv, &[source, w, b]).unwrap();
        model.select_output_outlets(&out).unwrap();
        let run = |model: TypedModel| {
            let plan = model.into_optimized().unwrap().into_runnable().unwrap();
            let x = Tensor::from_shape(input, &x).unwrap();
            let out = plan.run(tvec!(x.into())).unwrap();
            let out = out[0].to_plain_array_view::<f32>().unwrap();
            out.iter().copied().collect::<Vec<f32>>()
        };
        let mut ours = model.clone();
        crate::ml::onnx::before_declutter(&mut ours).unwrap();
        if !has_avx512() {
            return None;
        }
        assert!(ours.nodes.iter().any(|n| n.op_is::<PointwiseConv>()));
        let (theirs, ours) = (run(model), run(ours));
        assert_eq!(theirs.len(), ours.len());
        Some(
            theirs
                .iter()
                .zip(&ours)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max),
        )
    }

    #[test]
    fn matches_tracts_pointwise_convolution() {
        // Positions: whole runs, a masked last vector, one or two vectors, a single position;
        // channels: whole blocks and a part block; one bias for all or one each.
        let cases = [
            (vec![1, 16, 56, 56], 32, 32),
            (vec![1, 64, 14, 14], 128, 128),
            (vec![1, 320, 7, 7], 1280, 1280),
            (vec![1, 12, 5, 7], 13, 13),
            (vec![1, 3, 4, 5], 9, 1),
            (vec![7, 1, 1], 5, 5),
            (vec![24, 3, 11], 20, 1),
        ];
        for (input, outputs, bias) in cases {
            match difference(&input, outputs, bias) {
                Some(d) => assert!(d < 1e-4, "{input:?} -> {outputs}: differs by {d}"),
                None => eprintln!("this CPU has no AVX-512: tract's own op runs"),
            }
        }
    }
}
