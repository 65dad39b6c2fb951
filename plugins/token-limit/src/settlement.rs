//! How many tokens a finished (or aborted) request costs: its reported usage, else what the
//! configuration says for a missing usage (keep the estimate, or refund).

use crate::config::MissingUsage;
use crate::scan::ScanResult;
use crate::usage::Weights;

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The body ended normally with this status.
    Complete(u16),
    /// The stream ended before the response did (client went away, upstream reset), or there
    /// was no response at all.
    Aborted,
}

/// The policy for missing usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingPolicy {
    /// Refund on upstream errors and aborts.
    pub refund_on_error: bool,
    /// What a successful response without usage costs.
    pub on_success: MissingUsage,
}

/// The final charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Tokens this request costs in the end.
    pub total: u64,
    /// The response reported no usable usage.
    pub usage_missing: bool,
}

/// Decides the final charge of a request whose estimate was `estimate`.
pub fn decide(scan: &ScanResult, weights: &Weights, ending: Ending, estimate: u64, policy: MissingPolicy) -> Charge {
    if let Some(total) = weights.cost(&scan.usage) {
        return Charge { total, usage_missing: false };
    }
    let failed = match ending {
        Ending::Complete(status) => status >= 400,
        Ending::Aborted => true,
    };
    let refund = if failed { policy.refund_on_error } else { policy.on_success == MissingUsage::Refund };
    Charge { total: if refund { 0 } else { estimate }, usage_missing: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Usage;

    const POLICY: MissingPolicy = MissingPolicy { refund_on_error: true, on_success: MissingUsage::ChargeEstimate };

    fn with_usage(input: u64, output: u64) -> ScanResult {
        ScanResult { usage: Usage { input: Some(input), output: Some(output), total: None }, ..ScanResult::default() }
    }

    #[test]
    fn reported_usage_wins_even_on_errors_and_aborts() {
        let w = Weights::default();
        for ending in [Ending::Complete(200), Ending::Complete(500), Ending::Aborted] {
            assert_eq!(decide(&with_usage(3, 4), &w, ending, 100, POLICY), Charge { total: 7, usage_missing: false });
        }
    }

    #[test]
    fn missing_usage_follows_the_policy() {
        let w = Weights::default();
        let none = ScanResult::default();
        assert_eq!(decide(&none, &w, Ending::Complete(200), 100, POLICY), Charge { total: 100, usage_missing: true });
        assert_eq!(decide(&none, &w, Ending::Complete(502), 100, POLICY).total, 0);
        assert_eq!(decide(&none, &w, Ending::Aborted, 100, POLICY).total, 0);
        let keep = MissingPolicy { refund_on_error: false, on_success: MissingUsage::Refund };
        assert_eq!(decide(&none, &w, Ending::Aborted, 100, keep).total, 100);
        assert_eq!(decide(&none, &w, Ending::Complete(200), 100, keep).total, 0);
    }
}
