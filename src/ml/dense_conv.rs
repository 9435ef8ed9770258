//! Dense (ungrouped) KxK convolution for f32 NCHW models on CPUs with AVX-512: the networks'
//! stems, YOLOX-Nano's 3x3 over its 12 Focus channels and EfficientNet-Lite0's stride-2 3x3
//! over the picture, which tract 0.23 runs as a direct loop or a matrix product over an im2col
//! of few rows, at a fraction of the core's rate. This op copies each input channel once into
//! its zero-padded plane, split into phases by the stride ([`Phases`]), so that every output of a
//! channel is one unit-stride stretch for every tap. The convolution is then the pointwise op's
//! tile over `channels × taps` input rows, each a channel's plane read from one tap's offset,
//! with what follows channel by channel folded into the stores; the outputs are copied out of
//! their stretches.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName, ensure};
use tract_onnx::tract_core::ops::cnn::Conv;

use super::epilogue::{Fuses, Shared, Step, has_avx512};
use super::onnx::f32_output;
use super::phases::Phases;
use super::pointwise::{MIN_POSITIONS, PlainConv};

/// A dense convolution over one f32 `[1, C, H, W]` (or `[C, H, W]`) input with constant
/// weights, a kernel larger than 1x1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseConv {
    /// Input shape as the model has it.
    input: TVec<usize>,
    /// Each input channel's plane.
    plane: Phases,
    /// Output channels.
    outputs: usize,
    /// The weights, packed as [`PlainConv`] says.
    weights: Shared,
    /// The bias of each output channel.
    bias: Shared,
    /// What is done to each output after the bias, in order.
    then: Vec<Step>,
}

impl DenseConv {
    /// The op for `conv` when it is a plain convolution (see [`PlainConv`]) with a kernel
    /// larger than 1x1 and enough outputs per channel.
    pub(super) fn for_conv(
        model: &TypedModel,
        node: &TypedNode,
        conv: &Conv,
    ) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        if spec.kernel_shape.iter().all(|&k| k == 1) {
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
        let Some(plane) = Phases::of(spec, &input)? else {
            return Ok(None);
        };
        if plane.stretch() < MIN_POSITIONS {
            return Ok(None);
        }
        Ok(Some(DenseConv {
            input,
            plane,
            outputs: conv.output_channels(),
            weights,
            bias,
            then: Vec::new(),
        }))
    }

    /// Where each input row of the tile starts in the padded planes: channel by channel, tap by
    /// tap.
    fn rows(&self) -> Vec<usize> {
        let channels = self.input[self.input.len() - 3];
        let offsets = self.plane.offsets();
        (0..channels)
            .flat_map(|c| {
                let start = c * self.plane.len();
                offsets.iter().map(move |&offset| start + offset as usize)
            })
            .collect()
    }
}

impl Fuses for DenseConv {
    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.input.clone();
        let rank = shape.len();
        shape[rank - 3] = self.outputs;
        (shape[rank - 2], shape[rank - 1]) = self.plane.out;
        shape
    }

    fn then(&self, step: Step) -> Self {
        let mut fused = self.clone();
        fused.then.push(step);
        fused
    }
}

impl Op for DenseConv {
    fn name(&self) -> StaticName {
        "AlcovesDenseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let then: Vec<_> = self.then.iter().map(|step| step.then).collect();
        Ok(vec![format!(
            "input {:?} {:?} outputs {} then {then:?}",
            self.input, self.plane, self.outputs
        )])
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for DenseConv {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let (h, w) = self.plane.input;
        let plane_len = self.plane.len();
        let channels = x.len() / (h * w);
        let mut padded = vec![0f32; channels * plane_len];
        for (plane, padded) in x
            .chunks_exact(h * w)
            .zip(padded.chunks_exact_mut(plane_len))
        {
            self.plane.fill(plane, padded);
        }
        let rows = self.rows();
        let stretch = self.plane.stretch();
        ensure!(
            rows.iter().all(|&row| row + stretch <= padded.len()),
            "a tap reads outside the padded planes"
        );
        ensure!(has_avx512(), "a dense convolution needs AVX-512");
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut stretches = vec![0f32; self.outputs * stretch];
        // SAFETY: the CPU has AVX-512 (checked above); every input row's stretch is inside
        // `padded` (checked above), the packed weights are whole blocks for `self.outputs`
        // channels and `rows.len()` rows, the bias one value each, and `stretches` holds
        // `outputs · stretch` values.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let weights = (&self.weights.0[..], &self.bias.0[..]);
            let input_rows = (rows.len(), |r: usize| rows[r]);
            super::pointwise::avx512::convolve(
                &padded,
                input_rows,
                stretch,
                weights,
                &self.then,
                &mut stretches,
            );
        }
        let (oh, ow) = self.plane.out;
        // Every output channel's plane is copied whole out of its stretch.
        f32_output(&self.output_shape(), |output| {
            let planes = output.chunks_exact_mut(oh * ow);
            for (out, stretch) in planes.zip(stretches.chunks_exact(stretch)) {
                self.plane.unstretch(stretch, out);
            }
            Ok(())
        })
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }
}

impl TypedOp for DenseConv {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// One dense convolution run by tract's own op and by ours; the largest difference, or
    /// `None` where this CPU has no AVX-512.
    fn difference(
        input: &[usize],
        outputs: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: PaddingSpec,
    ) -> Option<f32> {
        let channels = input[input.len() - 3];
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        let x = wave(input.iter().product(), 0.37);
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(input)).unwrap();
        let shape = [outputs, channels, kernel.0, kernel.1];
        let k = Tensor::from_shape(&shape, &wave(shape.iter().product(), 0.11)).unwrap();
        let k = model.add_const("k", k).unwrap();
        let b = Tensor::from_shape(&[outputs], &wave(outputs, 0.7)).unwrap();
        let b = model.add_const("b", b).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: if input.len() == 4 {
                    DataFormat::NCHW
                } else {
                    DataFormat::CHW
                },
                kernel_shape: tvec!(kernel.0, kernel.1),
                padding,
                dilations: None,
                strides: Some(tvec!(stride.0, stride.1)),
                input_channels: channels,
                output_channels: outputs,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let out = model.wire_node("conv", conv, &[source, k, b]).unwrap();
        model.select_output_outlets(&out).unwrap();
        if !has_avx512() {
            return None;
        }
        let mut ours = model.clone();
        crate::ml::onnx::rewrite(&mut ours).unwrap();
        assert!(ours.nodes.iter().any(|n| n.op_is::<DenseConv>()), "{ours}");
        Some(crate::ml::onnx::largest_difference(model, ours, input, &x))
    }

    #[test]
    fn matches_tracts_dense_convolution() {
        let same = |p: usize| PaddingSpec::Explicit(tvec!(p, p), tvec!(p, p));
        // YOLOX-Nano's stem (12 channels from Focus), EfficientNet's stride-2 stem with its
        // padding below and right only, a 5x5 with part blocks of output channels, uneven
        // strides, CHW.
        let cases = [
            (vec![1, 12, 26, 26], 16, (3, 3), (1, 1), same(1)),
            (
                vec![1, 3, 32, 32],
                32,
                (3, 3),
                (2, 2),
                PaddingSpec::Explicit(tvec!(0, 0), tvec!(1, 1)),
            ),
            (vec![1, 5, 17, 19], 11, (5, 5), (1, 1), same(2)),
            (vec![1, 4, 15, 20], 9, (3, 3), (2, 1), PaddingSpec::Valid),
            (vec![6, 9, 9], 8, (3, 3), (1, 1), PaddingSpec::SameUpper),
        ];
        for (input, outputs, kernel, stride, padding) in cases {
            let case = format!("{input:?} -> {outputs} {kernel:?} {stride:?} {padding:?}");
            match difference(&input, outputs, kernel, stride, padding) {
                Some(d) => assert!(d < 1e-4, "{case}: differs by {d}"),
                None => eprintln!("this CPU has no AVX-512: tract's own op runs"),
            }
        }
    }
}
