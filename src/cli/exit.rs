//! Exit codes, chosen in one place. See the README for what each means to a user.

/// How a `ferry` command ended. The numeric values are part of the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// A runtime failure: network, server, disk.
    Runtime = 1,
    /// Bad usage, or an invalid manifest or plan.
    Usage = 2,
    /// The plan is blocked (conflicts, collisions, PHI findings), or a server drifted since the plan.
    Blocked = 3,
    /// Verification failed after a transfer.
    Verify = 4,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}
