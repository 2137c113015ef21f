"""Ask the land-use agent questions, traced through the standard OpenTelemetry setup.

python -m examples.landuse_agent "Which states have the most urban expansion?"
OTEL_TRACES_EXPORTER=console python -m examples.landuse_agent      # the five demo questions
"""

import sys

import agentotel.auto  # noqa: F401  first: SDK from OTEL_* (OTLP to localhost:4317 by default), instrument all
from examples.landuse_agent import DEFAULT_QUESTIONS, SMALL_SCALE, LandUseAgent, cached_database


def main(questions: list[str]) -> int:
    """Answer ``questions`` (default: the demo's five) on the small database."""
    database = cached_database(SMALL_SCALE)
    with LandUseAgent(database.path) as agent:
        for question in questions or DEFAULT_QUESTIONS:
            answer = agent.ask(question)
            print(f"Q: {question}\nA: {answer.text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
