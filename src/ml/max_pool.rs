//! Max pooling for f32 NCHW models, as YOLOX-Nano's spatial pyramid pools (5x5, 9x9 and 13x13
//! windows over every position of a 13x13 map), which tract 0.23 computes window by window, 275
//! comparisons an output. The maximum over a rectangle is the maximum over its rows of the
//! maximum along each row, so each channel takes two passes: along the rows (kernel width
//! comparisons an output column), then down the columns (kernel height), both over whole rows
//! at a time so that the compiler vectorises them. Positions in the padding are left out.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName};
use tract_onnx::tract_core::ops::cnn::MaxPool;
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::onnx::f32_output;

/// A max pool over one f32 NCHW (or CHW) input, with no index output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeparableMaxPool {
    /// Input shape as the model has it (`[N, C, H, W]` or `[C, H, W]`).
    input: TVec<usize>,
    /// Output height and width.
    out: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    /// Padding rows above and columns left of the input.
    pad_before: (usize, usize),
}

impl SeparableMaxPool {
    /// The op for `pool` when it is a plain f32 max pool without dilation or index output.
    pub(super) fn for_pool(
        model: &TypedModel,
        node: &TypedNode,
        pool: &MaxPool,
    ) -> TractResult<Option<Self>> {
        let spec = &pool.pool_spec;
        let plain = pool.with_index_outputs.is_none()
            && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
            && spec.rank() == 2
            && (0..2).all(|axis| spec.dilation(axis) == 1);
        let x = model.outlet_fact(node.inputs[0])?;
        let (true, Some(input)) = (plain, x.shape.as_concrete()) else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type() {
            return Ok(None);
        }
        let shape = spec.data_format.shape(input)?;
        let padding = spec.computed_padding(shape.hw_dims());
        if padding.iter().any(|dim| dim.convoluted == 0) {
            return Ok(None);
        }
        Ok(Some(SeparableMaxPool {
            input: input.into(),
            out: (padding[0].convoluted, padding[1].convoluted),
            kernel: (spec.kernel_shape[0], spec.kernel_shape[1]),
            stride: (spec.stride(0), spec.stride(1)),
            pad_before: (padding[0].pad_before, padding[1].pad_before),
        }))
    }

    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.input.clone();
        let rank = shape.len();
        shape[rank - 2] = self.out.0;
        shape[rank - 1] = self.out.1;
        shape
    }

    /// Input height and width.
    fn in_hw(&self) -> (usize, usize) {
        let rank = self.input.len();
        (self.input[rank - 2], self.input[rank - 1])
    }

    /// The first input index and how many of a window's `kernel` taps fall inside `0..len`, for
    /// the window of output `o` along an axis.
    fn taps(o: usize, stride: usize, pad: usize, kernel: usize, len: usize) -> (usize, usize) {
        let start = (o * stride) as isize - pad as isize;
        let first = start.max(0) as usize;
        let end = (start + kernel as isize).clamp(0, len as isize) as usize;
        (first, end.saturating_sub(first))
    }

    /// One channel's `plane` pooled into `out`, through `rows` (input height × output width).
    fn pool(&self, plane: &[f32], rows: &mut [f32], out: &mut [f32]) {
        let (h, w) = self.in_hw();
        let (oh, ow) = self.out;
        let (kh, kw) = self.kernel;
        let (sy, sx) = self.stride;
        let (py, px) = self.pad_before;
        // Along the rows: each output column's window, row by row, one tap at a time.
        rows.fill(f32::NEG_INFINITY);
        for tap in 0..kw {
            // Output columns whose window's tap `tap` is inside the row: x = ox·sx + tap - px.
            let from = (px.saturating_sub(tap)).div_ceil(sx);
            let to = (w + px).saturating_sub(tap).div_ceil(sx).min(ow);
            if from >= to {
                continue;
            }
            let first = from * sx + tap - px;
            for (row, pooled) in plane.chunks_exact(w).zip(rows.chunks_exact_mut(ow)) {
                let taps = row[first..].iter().step_by(sx);
                for (pooled, &x) in pooled[from..to].iter_mut().zip(taps) {
                    *pooled = pooled.max(x);
                }
            }
        }
        // Down the columns: each output row is the maximum of its window's pooled rows.
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let (first, n) = Self::taps(oy, sy, py, kh, h);
            out_row.fill(f32::NEG_INFINITY);
            for pooled in rows.chunks_exact(ow).skip(first).take(n) {
                for (o, &v) in out_row.iter_mut().zip(pooled) {
                    *o = o.max(v);
                }
            }
        }
        debug_assert!(oh * ow == out.len());
    }
}

impl Op for SeparableMaxPool {
    fn name(&self) -> StaticName {
        "AlcovesMaxPool".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "input {:?} kernel {:?} stride {:?} pad {:?}",
            self.input, self.kernel, self.stride, self.pad_before
        )])
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for SeparableMaxPool {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?;
        let x = x.as_slice::<f32>()?;
        let (h, w) = self.in_hw();
        let (oh, ow) = self.out;
        let mut rows = vec![0f32; h * ow];
        // `pool` writes every output of its plane.
        f32_output(&self.output_shape(), |output| {
            for (plane, out) in x.chunks_exact(h * w).zip(output.chunks_exact_mut(oh * ow)) {
                self.pool(plane, &mut rows, out);
            }
            Ok(())
        })
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }
}

impl TypedOp for SeparableMaxPool {
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
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

    /// One max pool, run by tract's own op and by ours; the largest difference.
    fn difference(
        input: &[usize],
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: PaddingSpec,
    ) -> f32 {
        let channels = input[input.len() - 3];
        let x: Vec<f32> = (0..input.iter().product())
            .map(|i| (i as f32 * 0.37).sin() * (i as f32 * 0.011).cos())
            .collect();
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(input)).unwrap();
        let pool = MaxPool {
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
                output_channels: channels,
            },
            with_index_outputs: None,
        };
        let out = model.wire_node("pool", pool, &[source]).unwrap();
        model.select_output_outlets(&out).unwrap();
        let mut ours = model.clone();
        crate::ml::onnx::rewrite(&mut ours).unwrap();
        assert!(ours.nodes.iter().any(|n| n.op_is::<SeparableMaxPool>()));
        crate::ml::onnx::largest_difference(model, ours, input, &x)
    }

    #[test]
    fn matches_tracts_max_pool() {
        let same = |p: usize| PaddingSpec::Explicit(tvec!(p, p), tvec!(p, p));
        let cases = [
            (vec![1, 8, 13, 13], (5, 5), (1, 1), same(2)),
            (vec![1, 8, 13, 13], (9, 9), (1, 1), same(4)),
            (vec![1, 8, 13, 13], (13, 13), (1, 1), same(6)),
            (vec![1, 3, 20, 31], (3, 3), (2, 2), same(1)),
            (vec![1, 2, 17, 9], (2, 3), (2, 1), PaddingSpec::Valid),
            (vec![4, 10, 12], (3, 2), (1, 2), PaddingSpec::SameUpper),
            (
                vec![1, 2, 9, 9],
                (3, 3),
                (3, 3),
                PaddingSpec::Explicit(tvec!(0, 2), tvec!(1, 0)),
            ),
        ];
        for (input, kernel, stride, padding) in cases {
            let case = format!("{input:?} {kernel:?} {stride:?} {padding:?}");
            let difference = difference(&input, kernel, stride, padding);
            assert!(difference == 0.0, "{case}: differs by {difference}");
        }
    }
}
