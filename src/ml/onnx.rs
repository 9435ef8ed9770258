//! ONNX models in tract: loaded with the manifest's concrete input shape and optimized for it,
//! plus the pixel-to-tensor conversions the vision models share.

use std::path::Path;
use std::sync::Arc;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::cnn::{Conv, MaxPool};
use tract_onnx::tract_core::plan::{SimpleState, eval};

use super::MlError;
use super::dense_conv::DenseConv;
use super::depthwise::DepthwiseConv;
use super::epilogue;
use super::max_pool::SeparableMaxPool;
use super::models::{ModelSpec, weights_path};
use super::pointwise::PointwiseConv;

/// An optimized, runnable ONNX model; one plan serves every thread.
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    /// The input shape it was optimized for.
    pub input: Vec<usize>,
}

impl OnnxModel {
    /// Loads `spec`'s weights from `dir` with its input fixed to the manifest's shape.
    pub fn load(dir: &Path, spec: &ModelSpec) -> Result<OnnxModel, String> {
        Self::load_with_input(dir, spec, &spec.input)
    }

    /// Loads `spec`'s weights from `dir` with its input fixed to `input`.
    pub fn load_with_input(
        dir: &Path,
        spec: &ModelSpec,
        input: &[usize],
    ) -> Result<OnnxModel, String> {
        let plan = tract_onnx::onnx()
            .model_for_path(weights_path(dir, spec))
            .and_then(|m| m.with_input_fact(0, f32::fact(input).into()))
            .and_then(|m| m.into_typed())
            .and_then(|mut m| {
                before_declutter(&mut m)?;
                m.into_decluttered()
            })
            .and_then(|mut m| {
                rewrite(&mut m)?;
                m.into_optimized()
            })
            .and_then(|m| m.into_runnable())
            .map_err(|e| format!("loading {}: {e:#}", spec.file))?;
        Ok(OnnxModel {
            plan,
            input: input.to_vec(),
        })
    }

    /// Runs the model on one input laid out as [`OnnxModel::input`]; returns every output.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Outputs>, MlError> {
        let tensor = self.tensor(&input)?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| MlError::Inference(format!("{e:#}")))?;
        outputs
            .into_iter()
            .map(|value| {
                let view = value
                    .to_plain_array_view::<f32>()
                    .map_err(|e| MlError::Inference(format!("output: {e}")))?;
                Ok(Outputs {
                    shape: view.shape().to_vec(),
                    data: view.iter().copied().collect(),
                })
            })
            .collect()
    }

    /// Where a run's time goes: milliseconds per run spent in each kind of operation, over
    /// `runs` runs on `input`, largest first (the ML benchmark's breakdown).
    pub fn time_by_op(&self, input: &[f32], runs: usize) -> Result<Vec<(String, f64)>, MlError> {
        let mut state =
            SimpleState::new(&self.plan).map_err(|e| MlError::Inference(e.to_string()))?;
        let mut ms = std::collections::HashMap::<String, f64>::new();
        for _ in 0..runs {
            let input = tvec!(self.tensor(input)?.into());
            state
                .run_plan_with_eval(input, |ctx, op_state, node, inputs| {
                    let started = std::time::Instant::now();
                    let outputs = eval(ctx, op_state, node, inputs);
                    let spent = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
                    *ms.entry(node.op().name().into_owned()).or_default() += spent;
                    outputs
                })
                .map_err(|e| MlError::Inference(format!("{e:#}")))?;
        }
        let mut ms: Vec<(String, f64)> = ms.into_iter().collect();
        ms.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ms)
    }

    fn tensor(&self, input: &[f32]) -> Result<Tensor, MlError> {
        Tensor::from_shape(&self.input, input)
            .map_err(|e| MlError::Inference(format!("input: {e}")))
    }
}

/// Our rewrites of a typed model before tract declutters it: casts of constants become
/// constants, so that weights stored as f16 (EfficientNet-Lite0) are converted and packed once at
/// load rather than at every run, and 1x1 convolutions run as [`PointwiseConv`] where it applies
/// (tract would turn them into matrix products while decluttering).
pub(super) fn before_declutter(model: &mut TypedModel) -> TractResult<()> {
    rewrite_each::<Cast>(model, |model, node, cast| {
        let Some(konst) = model.outlet_fact(node.inputs[0])?.konst.clone() else {
            return Ok(None);
        };
        let mut patch = TypedModelPatch::default();
        let wire = patch.add_const(&node.name, konst.cast_to_dt(cast.to)?.into_owned())?;
        patch.shunt_outside(model, node.id.into(), wire)?;
        Ok(Some(patch))
    })?;
    rewrite_each::<Conv>(model, |model, node, conv| {
        PointwiseConv::for_conv(model, node, conv)?
            .map(|op| TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op))
            .transpose()
    })
}

/// Our rewrites of a decluttered model before tract optimizes it: depthwise convolutions run as
/// [`DepthwiseConv`], other convolutions larger than 1x1 as [`DenseConv`] (with AVX-512) and max
/// pools as [`SeparableMaxPool`], and what follows our convolutions channel by channel is folded
/// into them.
pub(super) fn rewrite(model: &mut TypedModel) -> TractResult<()> {
    rewrite_each::<Conv>(model, |model, node, conv| {
        if let Some(op) = DepthwiseConv::for_conv(model, node, conv)? {
            return TypedModelPatch::replace_single_op(model, node, &node.inputs, op).map(Some);
        }
        // Its weights are packed into the op: only the data stays an input.
        DenseConv::for_conv(model, node, conv)?
            .map(|op| TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op))
            .transpose()
    })?;
    rewrite_each::<MaxPool>(model, |model, node, pool| {
        SeparableMaxPool::for_pool(model, node, pool)?
            .map(|op| TypedModelPatch::replace_single_op(model, node, &node.inputs, op))
            .transpose()
    })?;
    epilogue::fold_into::<PointwiseConv>(model)?;
    epilogue::fold_into::<DenseConv>(model)?;
    epilogue::fold_into::<DepthwiseConv>(model)
}

/// Applies the patch `rewrite` makes, if any, for each node of `model` whose op is an `O`.
fn rewrite_each<O: TypedOp>(
    model: &mut TypedModel,
    rewrite: impl Fn(&TypedModel, &TypedNode, &O) -> TractResult<Option<TypedModelPatch>>,
) -> TractResult<()> {
    let ids: Vec<usize> = model
        .nodes
        .iter()
        .filter(|node| node.op_is::<O>())
        .map(|node| node.id)
        .collect();
    for id in ids {
        let node = &model.nodes[id];
        let op = node.op_as::<O>().expect("filtered above");
        if let Some(patch) = rewrite(model, node, op)? {
            patch.apply(model)?;
        }
    }
    Ok(())
}

/// An f32 tensor of `shape` that `write` fills, as our ops' output: written where tract will
/// read it, rather than into a vector that is then copied, and not cleared first.
pub(super) fn f32_output(
    shape: &[usize],
    write: impl FnOnce(&mut [f32]) -> TractResult<()>,
) -> TractResult<TVec<TValue>> {
    // SAFETY: every op that calls this writes each value of its output before it is read.
    let mut tensor = unsafe { Tensor::uninitialized::<f32>(shape)? };
    write(tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
    Ok(tvec!(tensor.into_tvalue()))
}

/// The largest difference between the first outputs of `theirs` (tract's own ops) and `ours`
/// (after our rewrites), both run on `x` laid out as `input`: how the tests of our ops compare.
#[cfg(test)]
pub(super) fn largest_difference(
    theirs: TypedModel,
    ours: TypedModel,
    input: &[usize],
    x: &[f32],
) -> f32 {
    let run = |model: TypedModel| {
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        let x = Tensor::from_shape(input, x).unwrap();
        let out = plan.run(tvec!(x.into())).unwrap();
        let out = out[0].to_plain_array_view::<f32>().unwrap();
        out.iter().copied().collect::<Vec<f32>>()
    };
    let (theirs, ours) = (run(theirs), run(ours));
    assert_eq!(theirs.len(), ours.len());
    theirs
        .iter()
        .zip(&ours)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// One output tensor, flattened in row-major order.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Channel order and scaling of a vision model's input.
#[derive(Debug, Clone, Copy)]
pub struct PixelFormat {
    /// Blue first, as OpenCV-trained models expect.
    pub bgr: bool,
    /// `(px - mean) / scale` for every channel.
    pub mean: f32,
    pub scale: f32,
}

impl PixelFormat {
    /// Blue first, 0..255 as they are: models trained through OpenCV (CenterFace, YOLOX).
    pub const BGR_RAW: PixelFormat = PixelFormat {
        bgr: true,
        mean: 0.0,
        scale: 1.0,
    };

    /// RGB centred on `mean` and divided by 128.
    pub const fn rgb_centred(mean: f32) -> PixelFormat {
        PixelFormat {
            bgr: false,
            mean,
            scale: 128.0,
        }
    }
}

/// `image` as a planar (NCHW) tensor in `format`.
pub fn planar(image: &RgbImage, format: PixelFormat) -> Vec<f32> {
    let plane = (image.width() * image.height()) as usize;
    let mut out = vec![0.0f32; plane * 3];
    for (i, px) in image.pixels().enumerate() {
        for c in 0..3 {
            let channel = if format.bgr { 2 - c } else { c };
            out[channel * plane + i] = (f32::from(px.0[c]) - format.mean) / format.scale;
        }
    }
    out
}

/// `image` resized to exactly `width` x `height` (aspect not kept), bilinear.
pub fn resize_exact(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage, MlError> {
    let mut out = RgbImage::new(width, height);
    if image.dimensions() == (width, height) {
        out.copy_from_slice(image);
        return Ok(out);
    }
    Resizer::new()
        .resize(
            image,
            &mut out,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| MlError::Inference(format!("resize: {e}")))?;
    Ok(out)
}

/// Non-maximum suppression: keeps the highest-scoring boxes (`[x1, y1, x2, y2]`) that overlap
/// no kept box by more than `iou`. Returns the kept indices, best first.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], iou: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept.iter().all(|&k| overlap(&boxes[i], &boxes[k]) <= iou) {
            kept.push(i);
        }
    }
    kept
}

/// Intersection over union of two corner boxes.
fn overlap(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [20.0, 20.0, 30.0, 30.0],
        ];
        assert_eq!(nms(&boxes, &[0.8, 0.9, 0.5], 0.3), vec![1, 2]);
        assert_eq!(nms(&boxes, &[0.8, 0.9, 0.5], 0.9), vec![1, 0, 2]);
    }

    #[test]
    fn planar_splits_channels_in_the_asked_order() {
        let image = RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let rgb = planar(
            &image,
            PixelFormat {
                bgr: false,
                mean: 0.0,
                scale: 1.0,
            },
        );
        assert_eq!(rgb, vec![10.0, 40.0, 20.0, 50.0, 30.0, 60.0]);
        let bgr = planar(
            &image,
            PixelFormat {
                bgr: true,
                mean: 10.0,
                scale: 2.0,
            },
        );
        assert_eq!(bgr, vec![10.0, 25.0, 5.0, 20.0, 0.0, 15.0]);
    }
}
