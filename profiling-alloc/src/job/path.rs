//! Job paths as the `job` module sees them: the floor's nodes
//! (`capture::job_path`) hold their site as an opaque [`SiteId`]; this is
//! where ids are made from [`JobSite`]s and turned back into them.

use super::site::JobSite;
use crate::capture::job_path::{self, SiteId};
pub(crate) use crate::capture::job_path::{
    current, enter, for_each_node, for_each_node_within, PathGuard, PathNode,
};

/// The node for `site` called inside `parent` (or at top level), created on
/// first use.
pub(crate) fn child_of(
    parent: Option<&'static PathNode>,
    site: &'static JobSite,
) -> &'static PathNode {
    // SAFETY: `site` is a `JobSite`, as `site_of` expects.
    job_path::child_of(parent, unsafe { SiteId::of(site) })
}

/// A node of its own for `site` inside `parent`, outside the tree.
pub(crate) fn detached(
    parent: Option<&'static PathNode>,
    site: &'static JobSite,
) -> &'static PathNode {
    // SAFETY: `site` is a `JobSite`, as `site_of` expects.
    job_path::detached(parent, unsafe { SiteId::of(site) })
}

/// The site of `node`'s job.
pub(crate) fn site_of(node: &PathNode) -> &'static JobSite {
    // SAFETY: ids are made only by `child_of` and `detached` above (nothing
    // else in the crate calls `SiteId::of`), each from a `&'static JobSite`,
    // so the address points to a `JobSite` that lives for the program.
    unsafe { &*node.site.as_ptr().cast::<JobSite>() }
}

/// The job names from the outermost job to `node`'s.
pub(crate) fn names(node: &PathNode) -> Vec<&'static str> {
    let mut names = vec![site_of(node).name()];
    let mut next = node.parent;
    while let Some(parent) = next {
        names.push(site_of(parent).name());
        next = parent.parent;
    }
    names.reverse();
    names
}
