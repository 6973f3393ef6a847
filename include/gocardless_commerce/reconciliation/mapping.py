"""GoCardless event → gateway event and action: the reconciliation's contract, as pure data.

The table is Zuora's batch GoCardless mapping (``docs/reconciliation.md``) completed for the
rows Zuora's public pages leave out (chargebacks, settled late failures, refunds). Anything
else is kept as gateway event ``Unknown`` with no action, as Zuora does for statuses it does
not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a gateway event does to the warehouse."""

    REACTIVATE_PAYMENT_METHOD = "reactivate_payment_method"
    CLOSE_PAYMENT_METHOD = "close_payment_method"
    FAIL_TO_SETTLE = "fail_to_settle"
    SETTLE = "settle"
    EXTERNAL_REFUND = "external_refund"
    NONE = "none"


class GatewayState(StrEnum):
    """Zuora's gateway states of a payment (and of a refund)."""

    NOT_SUBMITTED = "NotSubmitted"
    SUBMITTED = "Submitted"
    SETTLED = "Settled"
    FAILED_TO_SETTLE = "FailedToSettle"


#: Payment-method statuses.
ACTIVE, CLOSED = "Active", "Closed"
UNKNOWN = "Unknown"
#: Reason code of the refunds created for reversals (Zuora's pre-populated code).
PAYMENT_REVERSAL = "Payment Reversal"


@dataclass(frozen=True)
class Rule:
    gateway_event: str
    action: Action


#: (GoCardless resource type, action) → rule: exactly the table of docs/reconciliation.md.
MAPPING: dict[tuple[str, str], Rule] = {
    ("mandates", "reinstated"): Rule("MandateReinstated", Action.REACTIVATE_PAYMENT_METHOD),
    ("mandates", "cancelled"): Rule("MandateCanceled", Action.CLOSE_PAYMENT_METHOD),
    ("mandates", "failed"): Rule("MandateRejected", Action.CLOSE_PAYMENT_METHOD),
    ("mandates", "expired"): Rule("MandateExpired", Action.CLOSE_PAYMENT_METHOD),
    ("mandates", "resubmission_requested"): Rule("MandateReinstated", Action.REACTIVATE_PAYMENT_METHOD),
    ("payments", "customer_approval_denied"): Rule("TransactionRejected", Action.FAIL_TO_SETTLE),
    ("payments", "confirmed"): Rule("TransactionSettled", Action.SETTLE),
    ("payments", "cancelled"): Rule("TransactionRejected", Action.FAIL_TO_SETTLE),
    ("payments", "failed"): Rule("TransactionRejected", Action.FAIL_TO_SETTLE),
    ("payments", "charged_back"): Rule("TransactionReversed", Action.EXTERNAL_REFUND),
    ("payments", "late_failure_settled"): Rule("TransactionReversed", Action.EXTERNAL_REFUND),
    ("refunds", "paid"): Rule("TransactionSettled", Action.SETTLE),
    ("refunds", "refund_settled"): Rule("TransactionSettled", Action.SETTLE),
}
UNKNOWN_RULE = Rule(UNKNOWN, Action.NONE)

#: Payment events without a gateway event that still say where a payment stands before it
#: settles: Zuora's NotSubmitted / Submitted gateway states.
SUBMISSION_STATES: dict[str, GatewayState] = {
    "created": GatewayState.NOT_SUBMITTED,
    "customer_approval_granted": GatewayState.NOT_SUBMITTED,
    "resubmission_requested": GatewayState.NOT_SUBMITTED,
    "submitted": GatewayState.SUBMITTED,
}
SUBMISSION_STATE_VALUES = frozenset(state.value for state in SUBMISSION_STATES.values())
#: States a submission event may overwrite: a settled or rejected payment stays so.
PRE_SETTLEMENT_STATES = frozenset({None, GatewayState.NOT_SUBMITTED, GatewayState.SUBMITTED})

#: Resource types the reconciliation matches, and the object name it reports them under.
OBJECTS = {"payments": "Payment", "refunds": "Refund", "mandates": "Mandate"}


def rule_for(resource_type: str, action: str) -> Rule:
    """The gateway event and action of a GoCardless event; ``Unknown``/none when unmapped."""
    return MAPPING.get((resource_type, action), UNKNOWN_RULE)


def submission_state(resource_type: str, action: str) -> GatewayState | None:
    """The pre-settlement gateway state a payment event implies, if any."""
    return SUBMISSION_STATES.get(action) if resource_type == "payments" else None


def object_name(resource_type: str) -> str:
    """``payments`` → ``Payment``; other resource types by their singular (``Payout``…)."""
    return OBJECTS.get(resource_type) or resource_type.removesuffix("s").replace("_", " ").title().replace(" ", "")


def payment_method_status(mandate_status: str | None) -> str:
    """A mandate's status as a payment-method status (seeding from a landed mandate)."""
    closed = {"failed", "cancelled", "expired", "consumed", "blocked", "suspended_by_payer"}
    return CLOSED if mandate_status in closed else ACTIVE
