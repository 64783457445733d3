//! Test-only: the comparisons the kernel tests share.

use candle_core::{Result, Tensor, Var};

pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Asserts that `ours` and `reference` (same-shaped outputs) give every variable the same
/// gradient of Σ output·target, within `tolerance`.
pub(crate) fn assert_same_gradients(
    ours: Tensor,
    reference: Tensor,
    target: &Tensor,
    vars: &[&Var],
    tolerance: f32,
) -> Result<()> {
    let ours = (ours * target)?.sum_all()?.backward()?;
    let reference = (reference * target)?.sum_all()?.backward()?;
    for var in vars {
        let diff = max_diff(ours.get(var).unwrap(), reference.get(var).unwrap());
        assert!(diff < tolerance, "gradient differs by {diff}");
    }
    Ok(())
}

/// Asserts that `ours` and `reference` (same-shaped outputs) give each of `vars` the same
/// gradient of Σ output·target, within `tolerance` of the gradient's largest value: sums
/// over thousands of products differ in their last bits. `what` names the case.
pub(crate) fn assert_same_relative_gradients(
    ours: Tensor,
    reference: Tensor,
    target: &Tensor,
    vars: &[&Tensor],
    tolerance: f32,
    what: &str,
) -> Result<()> {
    let ours = (ours * target)?.sum_all()?.backward()?;
    let reference = (reference * target)?.sum_all()?.backward()?;
    for (i, var) in vars.iter().enumerate() {
        let (a, b) = (ours.get(var).unwrap(), reference.get(var).unwrap());
        let scale = b.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
        let diff = max_diff(a, b) / scale;
        assert!(
            diff < tolerance,
            "{what}: gradient {i} differs by {diff} (relative)"
        );
    }
    Ok(())
}
