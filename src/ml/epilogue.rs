//! What the mobile networks do to a convolution's output channel by channel (a batch norm's
//! scale and shift, a ReLU or ReLU6 clip, SiLU), folded into our convolution ops so that it is
//! done while each channel is in cache rather than in passes of its own over the whole tensor,
//! as tract folds it into its own matrix products.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::Silu;

/// An element-wise operation on each output, with a value per channel but for SiLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Add,
    Mul,
    Max,
    Min,
    /// `x · σ(x)`.
    Silu,
}

/// One operation with its value for each channel (none for SiLU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub then: Then,
    values: Shared,
}

/// Values shared between clones of an op; equal when they are the same buffer.
#[derive(Clone)]
pub struct Shared(pub Arc<Vec<f32>>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Shared {}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} values", self.0.len())
    }
}

/// An op that can take on what follows it channel by channel.
pub trait Fuses: TypedOp + Clone {
    /// The op's output shape, channels third from the end.
    fn output_shape(&self) -> TVec<usize>;
    /// The op with `step` done last.
    fn then(&self, step: Step) -> Self;
}

impl Step {
    /// What `node`'s one successor does to each output of `op`, when it is SiLU, or an
    /// addition, multiplication, maximum or minimum with a constant of one value or one per
    /// channel.
    pub fn following(
        model: &TypedModel,
        node: &TypedNode,
        op: &impl Fuses,
    ) -> TractResult<Option<Step>> {
        let ours = OutletId::new(node.id, 0);
        let Some(next) = model.single_succ(node.id)? else {
            return Ok(None);
        };
        if model.outputs.contains(&ours) {
            return Ok(None);
        }
        // tract's own SiLU is vectorised for every CPU; ours only for AVX-512.
        let silu = next
            .op_as::<ElementWiseOp>()
            .is_some_and(|op| op.0.is::<Silu>());
        if silu && has_avx512() {
            return Ok(Some(Step {
                then: Then::Silu,
                values: Shared(Arc::new(Vec::new())),
            }));
        }
        let Some(binary) = next.op_as::<TypedBinOp>() else {
            return Ok(None);
        };
        let then = match binary.0.name() {
            "Add" => Then::Add,
            "Mul" => Then::Mul,
            "Max" => Then::Max,
            "Min" => Then::Min,
            _ => return Ok(None),
        };
        let [a, b] = next.inputs[..] else {
            return Ok(None);
        };
        let other = if a == ours { b } else { a };
        let shape = op.output_shape();
        let fact = model.outlet_fact(other)?;
        let same_shape = model.outlet_fact(next.id.into())?.shape.as_concrete() == Some(&shape);
        let (Some(konst), true) = (&fact.konst, same_shape) else {
            return Ok(None);
        };
        // One value, or one per channel: every axis but the channels' is 1.
        let channel_axis = (shape.len() - 3) as isize;
        let first = shape.len() as isize - konst.rank() as isize;
        let along_channels = konst
            .shape()
            .iter()
            .enumerate()
            .all(|(axis, &n)| n == 1 || first + axis as isize == channel_axis);
        if other.node == node.id || fact.datum_type != f32::datum_type() || !along_channels {
            return Ok(None);
        }
        let values = konst.try_as_plain_ram()?;
        let values = values.as_slice::<f32>()?;
        let channels = shape[shape.len() - 3];
        if !(values.len() == 1 || values.len() == channels) {
            return Ok(None);
        }
        Ok(Some(Step {
            then,
            values: Shared(Arc::new(per_channel(values, channels))),
        }))
    }

    /// The step's value for channel `c` (none for SiLU).
    pub fn value(&self, c: usize) -> f32 {
        self.values.0.get(c).copied().unwrap_or_default()
    }

    /// Does the step to `outputs`, all of channel `c`.
    pub fn apply(&self, c: usize, outputs: &mut [f32]) {
        let v = self.value(c);
        match self.then {
            Then::Add => outputs.iter_mut().for_each(|x| *x += v),
            Then::Mul => outputs.iter_mut().for_each(|x| *x *= v),
            Then::Max => outputs.iter_mut().for_each(|x| *x = x.max(v)),
            Then::Min => outputs.iter_mut().for_each(|x| *x = x.min(v)),
            Then::Silu => outputs.iter_mut().for_each(|x| *x /= 1.0 + (-*x).exp()),
        }
    }
}

/// One value per channel from `values`: one for all, or one each.
pub fn per_channel(values: &[f32], channels: usize) -> Vec<f32> {
    (0..channels).map(|c| values[c % values.len()]).collect()
}

/// Whether this CPU has AVX-512.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Whether this CPU has AVX-512.
#[cfg(not(target_arch = "x86_64"))]
pub fn has_avx512() -> bool {
    false
}

/// Applies `steps` in order to `outputs`, all of channel `c`: each AVX-512 vector through
/// every step where the CPU has them, else one step at a time over all of them.
pub fn apply_all(steps: &[Step], c: usize, outputs: &mut [f32]) {
    if steps.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512 (checked above).
        unsafe { avx512::apply_to_all(steps, c, outputs) };
        return;
    }
    for step in steps {
        step.apply(c, outputs);
    }
}

/// Folds into ops of type `O` what follows them channel by channel, one successor at a time.
pub fn fold_into<O: Fuses>(model: &mut TypedModel) -> TractResult<()> {
    loop {
        let mut patch = None;
        for node in &model.nodes {
            let Some(op) = node.op_as::<O>() else {
                continue;
            };
            if let Some(step) = Step::following(model, node, op)? {
                patch = Some(TypedModelPatch::fuse_with_next(model, node, op.then(step))?);
                break;
            }
        }
        let Some(patch) = patch else {
            return Ok(());
        };
        patch.apply(model)?;
        model.compact()?;
    }
}

#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use std::arch::x86_64::*;

    use super::{Step, Then};

    /// `value`, a vector of channel `c`'s outputs, after each of `steps`.
    #[target_feature(enable = "avx512f")]
    pub fn apply_all(steps: &[Step], c: usize, mut value: __m512) -> __m512 {
        for step in steps {
            let v = || _mm512_set1_ps(step.value(c));
            value = match step.then {
                Then::Add => _mm512_add_ps(value, v()),
                Then::Mul => _mm512_mul_ps(value, v()),
                Then::Max => _mm512_max_ps(value, v()),
                Then::Min => _mm512_min_ps(value, v()),
                Then::Silu => silu(value),
            };
        }
        value
    }

    /// [`apply_all`] to each vector of `xs`, all of channel `c`, the last vector masked.
    #[target_feature(enable = "avx512f")]
    pub fn apply_to_all(steps: &[Step], c: usize, xs: &mut [f32]) {
        for chunk in xs.chunks_mut(16) {
            let mask: __mmask16 = if chunk.len() == 16 {
                0xffff
            } else {
                (1u16 << chunk.len()) - 1
            };
            // SAFETY: the mask covers `chunk`'s values and no more.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, chunk.as_ptr());
                _mm512_mask_storeu_ps(chunk.as_mut_ptr(), mask, apply_all(steps, c, x));
            }
        }
    }

    /// `x · σ(x) = x / (1 + e^-x)`, with `e^-x` as `2^n · e^r` (`n` whole, `|r| ≤ ln 2 / 2`,
    /// `e^r` by its Taylor polynomial to the 6th power, within about 1e-7) and the exponent
    /// clamped to ±88 so that it stays finite.
    #[target_feature(enable = "avx512f")]
    fn silu(x: __m512) -> __m512 {
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        let limit = _mm512_set1_ps(88.0);
        let t = _mm512_sub_ps(_mm512_setzero_ps(), x);
        let t = _mm512_max_ps(
            _mm512_min_ps(t, limit),
            _mm512_sub_ps(_mm512_setzero_ps(), limit),
        );
        let n = _mm512_mul_ps(t, _mm512_set1_ps(std::f32::consts::LOG2_E));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(n);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), t);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut e = _mm512_set1_ps(1.0 / 720.0);
        for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(c));
        }
        let e = _mm512_scalef_ps(e, n);
        _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_is_within_a_few_ulps_everywhere() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
        let mut ys = xs.clone();
        let silu = Step {
            then: Then::Silu,
            values: Shared(Arc::new(Vec::new())),
        };
        apply_all(&[silu], 0, &mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let expected = (x as f64 / (1.0 + (-x as f64).exp())) as f32;
            let error = (y - expected).abs();
            assert!(
                error <= 4e-7 * expected.abs() + 1e-30,
                "silu({x}) = {y}, not {expected}"
            );
        }
    }
}
