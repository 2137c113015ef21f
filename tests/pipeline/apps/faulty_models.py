"""Chat models for ``agentotel demo --model tests.pipeline.apps.faulty_models:models``: failures injected.

Three instances of the demo's deterministic model, each failing half of its calls (like a
hosted model returning 503s), so that runs fail, breakers open and the error-rate alert fires.
"""

from agentotel.demo.model import LanduseSQLModel


def models() -> list[LanduseSQLModel]:
    """Three instances that fail half their calls, each with its own reproducible sequence."""
    return [
        LanduseSQLModel(model_name=f"landuse-sql-faulty-{index}", latency_s=0.05, failure_rate=0.5, seed=index)
        for index in range(3)
    ]
