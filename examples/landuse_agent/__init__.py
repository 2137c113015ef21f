"""The land-use analytics agent behind ``agentotel demo``, for use in your own code.

The application lives in the installed package (``agentotel.demo``) so that
``agentotel demo`` works from a wheel; this package re-exports its parts::

    from examples.landuse_agent import LandUseAgent, cached_database

    with LandUseAgent(cached_database().path) as agent:      # deterministic local model
        print(agent.ask("Which counties have the most development?").text)

Run ``python -m examples.landuse_agent [QUESTION ...]`` to ask questions with
telemetry set up from the ``OTEL_*`` variables (``import agentotel.auto``).
"""

from agentotel.demo.agent import Answer, LandUseAgent, ModelInstance, default_models
from agentotel.demo.data import DEFAULT_SCALE, SMALL_SCALE, build_database, cached_database
from agentotel.demo.model import LanduseSQLModel, ModelUnavailableError
from agentotel.demo.questions import DEFAULT_QUESTIONS

__all__ = [
    "Answer",
    "DEFAULT_QUESTIONS",
    "DEFAULT_SCALE",
    "LandUseAgent",
    "LanduseSQLModel",
    "ModelInstance",
    "ModelUnavailableError",
    "SMALL_SCALE",
    "build_database",
    "cached_database",
    "default_models",
]
