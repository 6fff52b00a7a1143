//! Which versions to delete.

use super::*;

/// Versions to delete: every existing version that is neither among the newest `keep` (counting
/// `planned_new` versions about to be created as the newest) nor protected.
pub fn versions_to_prune(
    existing: &[u64],
    keep: usize,
    planned_new: usize,
    protected: &BTreeSet<u64>,
) -> Vec<u64> {
    let mut sorted: Vec<u64> = existing.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    let keep_existing = keep.saturating_sub(planned_new);
    let mut out: Vec<u64> = sorted
        .into_iter()
        .skip(keep_existing)
        .filter(|v| !protected.contains(v))
        .collect();
    out.sort_unstable();
    out
}
