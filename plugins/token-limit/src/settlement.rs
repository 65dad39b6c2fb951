//! How many tokens a finished (or aborted) request costs: its reported usage; else, for a
//! stream that ended after a successful answer had begun, the text it carried plus the
//! prompt (`on_abort`); else what the configuration says for a missing usage (keep the
//! estimate, or refund). Requests that are not completions, and every request with
//! `reservation: off` (as Higress), are charged only reported usage.

use crate::config::MissingUsage;
use crate::scan::ScanResult;
use crate::usage::{Usage, Weights};

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The body ended normally with this status.
    Complete(u16),
    /// The stream ended before the response did (client went away, upstream reset), or there
    /// was no response at all.
    Aborted {
        /// The response status, 0 when no response headers arrived.
        status: u16,
        /// Whether any response body had arrived.
        body_seen: bool,
    },
}

/// What a stream that ends after a successful answer began, without usage, costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbortCharge {
    /// The text streamed so far (characters / `chars_per_token`) plus the prompt estimate.
    #[default]
    ChargeStreamed,
    /// The whole estimate (what was reserved for it).
    ChargeEstimate,
    /// Nothing.
    Refund,
}

impl gateway_sdk::config::FromConfig for AbortCharge {
    fn from_config(node: gateway_sdk::config::ConfigNode<'_>) -> Result<Self, gateway_sdk::ConfigError> {
        node.variant(&[
            ("charge_streamed", AbortCharge::ChargeStreamed),
            ("charge_estimate", AbortCharge::ChargeEstimate),
            ("refund", AbortCharge::Refund),
        ])
    }
}

/// The policy for missing usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingPolicy {
    /// Refund on upstream errors and on streams that ended before any answer.
    pub refund_on_error: bool,
    /// What a successful response without usage costs.
    pub on_success: MissingUsage,
    /// What an aborted successful answer without usage costs.
    pub on_abort: AbortCharge,
    /// Charge reported usage only (`reservation: off`, as Higress).
    pub usage_only: bool,
    /// Characters per token of the streamed text.
    pub chars_per_token: u64,
}

/// What the request was estimated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Costs {
    /// The estimate (kept when usage is missing and the config says so).
    pub estimate: u64,
    /// The prompt part of it.
    pub prompt: u64,
    /// Whether the request was a completion.
    pub completion: bool,
}

/// The final charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Tokens this request costs in the end.
    pub total: u64,
    /// The response reported no usable usage although one was expected.
    pub usage_missing: bool,
}

/// Decides the final charge of a request.
pub fn decide(scan: &ScanResult, weights: &Weights, ending: Ending, costs: Costs, policy: MissingPolicy) -> Charge {
    if let Some(total) = weights.cost(&scan.usage) {
        return Charge { total, usage_missing: false };
    }
    if !costs.completion {
        return Charge { total: 0, usage_missing: false };
    }
    if policy.usage_only {
        return Charge { total: 0, usage_missing: true };
    }
    let keep = |refund: bool| Charge { total: if refund { 0 } else { costs.estimate }, usage_missing: true };
    match ending {
        Ending::Complete(status) if status >= 400 => keep(policy.refund_on_error),
        Ending::Complete(_) => keep(policy.on_success == MissingUsage::Refund),
        Ending::Aborted { status, body_seen } if status == 0 || status >= 400 || !body_seen => {
            keep(policy.refund_on_error)
        }
        Ending::Aborted { .. } => match policy.on_abort {
            AbortCharge::ChargeEstimate => keep(false),
            AbortCharge::Refund => keep(true),
            AbortCharge::ChargeStreamed => {
                let output = scan.streamed_chars.div_ceil(policy.chars_per_token.max(1));
                let usage = Usage { input: Some(costs.prompt), output: Some(output), total: None };
                Charge { total: weights.cost(&usage).unwrap_or(0), usage_missing: true }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: MissingPolicy = MissingPolicy {
        refund_on_error: true,
        on_success: MissingUsage::ChargeEstimate,
        on_abort: AbortCharge::ChargeStreamed,
        usage_only: false,
        chars_per_token: 4,
    };
    const COSTS: Costs = Costs { estimate: 100, prompt: 3, completion: true };
    const STREAMED: Ending = Ending::Aborted { status: 200, body_seen: true };

    fn with_usage(input: u64, output: u64) -> ScanResult {
        ScanResult { usage: Usage { input: Some(input), output: Some(output), total: None }, ..ScanResult::default() }
    }

    fn streamed(chars: u64) -> ScanResult {
        ScanResult { streamed_chars: chars, ..ScanResult::default() }
    }

    #[test]
    fn reported_usage_wins_even_on_errors_and_aborts() {
        let w = Weights::default();
        for ending in
            [Ending::Complete(200), Ending::Complete(500), STREAMED, Ending::Aborted { status: 0, body_seen: false }]
        {
            assert_eq!(decide(&with_usage(3, 4), &w, ending, COSTS, POLICY), Charge { total: 7, usage_missing: false });
        }
        let usage_only = MissingPolicy { usage_only: true, ..POLICY };
        assert_eq!(decide(&with_usage(3, 4), &w, Ending::Complete(200), COSTS, usage_only).total, 7);
    }

    #[test]
    fn missing_usage_follows_the_policy() {
        let w = Weights::default();
        let none = ScanResult::default();
        assert_eq!(decide(&none, &w, Ending::Complete(200), COSTS, POLICY), Charge { total: 100, usage_missing: true });
        assert_eq!(decide(&none, &w, Ending::Complete(502), COSTS, POLICY).total, 0);
        let keep = MissingPolicy { refund_on_error: false, on_success: MissingUsage::Refund, ..POLICY };
        assert_eq!(decide(&none, &w, Ending::Complete(502), COSTS, keep).total, 100);
        assert_eq!(decide(&none, &w, Ending::Complete(200), COSTS, keep).total, 0);
    }

    #[test]
    fn an_abort_after_the_answer_began_charges_the_streamed_text_and_the_prompt() {
        let w = Weights::default();
        assert_eq!(decide(&streamed(21), &w, STREAMED, COSTS, POLICY), Charge { total: 3 + 6, usage_missing: true });
        let double = Weights { output: 2.0, ..Weights::default() };
        assert_eq!(decide(&streamed(21), &double, STREAMED, COSTS, POLICY).total, 3 + 12);
        let estimate = MissingPolicy { on_abort: AbortCharge::ChargeEstimate, ..POLICY };
        assert_eq!(decide(&streamed(21), &w, STREAMED, COSTS, estimate).total, 100);
        let refund = MissingPolicy { on_abort: AbortCharge::Refund, ..POLICY };
        assert_eq!(decide(&streamed(21), &w, STREAMED, COSTS, refund).total, 0);
    }

    #[test]
    fn an_abort_before_any_answer_or_after_an_error_is_refunded() {
        let w = Weights::default();
        for ending in [
            Ending::Aborted { status: 0, body_seen: false },
            Ending::Aborted { status: 200, body_seen: false },
            Ending::Aborted { status: 503, body_seen: true },
        ] {
            assert_eq!(decide(&streamed(40), &w, ending, COSTS, POLICY).total, 0, "{ending:?}");
            let keep = MissingPolicy { refund_on_error: false, ..POLICY };
            assert_eq!(decide(&streamed(40), &w, ending, COSTS, keep).total, 100, "{ending:?}");
        }
    }

    #[test]
    fn requests_that_are_not_completions_and_reservation_off_charge_only_usage() {
        let w = Weights::default();
        let other = Costs { estimate: 0, prompt: 0, completion: false };
        for ending in [Ending::Complete(200), STREAMED] {
            assert_eq!(decide(&streamed(40), &w, ending, other, POLICY), Charge { total: 0, usage_missing: false });
        }
        let off = MissingPolicy { usage_only: true, ..POLICY };
        assert_eq!(
            decide(&streamed(40), &w, Ending::Complete(200), COSTS, off),
            Charge { total: 0, usage_missing: true }
        );
        assert_eq!(decide(&streamed(40), &w, STREAMED, COSTS, off).total, 0);
    }
}
