"""A real worker with OpenDP's noise switched off: the neighbouring-stream test's only seam.

Run as ``python tests/integration/noiseless_worker.py`` with ``FLOCKVIEW_WORKER_*`` settings in the
environment. It is exactly ``flockview worker`` (the real Faust app, partitions, gathering and the real
:class:`analytics.privacy.release.Releaser` writing to DuckDB) except that, before anything is built,
:func:`zero_noise` makes OpenDP's discrete Gaussian and Gaussian-threshold measurements return their
input (the threshold still keeps only keys at or over it). Calibration, privacy maps, scales,
intervals and the ledger are OpenDP's own and unchanged: only the sampled noise is zero.

This file is not part of the package, no setting or environment variable of a deployed worker reaches
it, and nothing in ``analytics`` knows it exists.
"""

from __future__ import annotations

from typing import Any

import opendp.measurements
import opendp.mod

from analytics.settings import WorkerSettings
from analytics.stream.app import run_worker

_TAG = "_flockview_zero_noise"


def zero_noise() -> None:
    """Make every discrete Gaussian (threshold) measurement built from now on in this process noiseless."""
    make_gaussian, make_threshold = opendp.measurements.make_gaussian, opendp.measurements.make_gaussian_threshold
    invoke = opendp.mod.Measurement.__call__

    def gaussian(*args: Any, **kwargs: Any) -> opendp.mod.Measurement:
        measurement = make_gaussian(*args, **kwargs)
        setattr(measurement, _TAG, ("gaussian", None))
        return measurement

    def threshold(*args: Any, **kwargs: Any) -> opendp.mod.Measurement:
        measurement = make_threshold(*args, **kwargs)
        setattr(measurement, _TAG, ("threshold", kwargs["threshold"]))
        return measurement

    def call(self: opendp.mod.Measurement, arg: Any) -> Any:
        kind, at_least = getattr(self, _TAG, (None, None))
        if kind == "gaussian":
            return list(arg)
        if kind == "threshold":
            return {key: value for key, value in arg.items() if value >= at_least}
        return invoke(self, arg)

    opendp.measurements.make_gaussian = gaussian
    opendp.measurements.make_gaussian_threshold = threshold
    opendp.mod.Measurement.__call__ = call


if __name__ == "__main__":
    zero_noise()
    run_worker(WorkerSettings())
