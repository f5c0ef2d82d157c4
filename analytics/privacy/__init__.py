"""The DP core: everything a differential-privacy reviewer must check, in one folder.

The rule that must hold: every number that leaves this package toward the store is an OpenDP output
(or post-processing of one), calibrated to the bounded contribution of one privacy unit, and paid
for in the ledger before it is written. No Faust and no Kafka here; DuckDB only through
``analytics.store``.

Modules:
    budget: ``RhoBudget``, a zCDP budget as a value with arithmetic, and ``ApproxDPBudget``, its (epsilon, delta)
        equivalent.
    bounding: the contribution-bounding rule (K cells, L events per cell), the reference implementation.
    gaussian: the discrete Gaussian over public keys: calibration, noise, intervals.
    selection: DP partition selection for open vocabularies (OpenDP Gaussian threshold).
    postprocess: non-negativity, totals consistent with their parts, year-to-date sums (no budget cost).
    ledger: ``BudgetPolicy``, the cap check (``charge``) and ``account``, the one accounting of spend that
        the CLI, the report and the dashboard show.
    release: the release step (``Releaser``) and its plans (``GaussianRelease | ThresholdRelease``): ledger,
        noise, post-processing, one store transaction.
"""
