"""The ``agentotel`` command: ``agentotel demo``, ``agentotel doctor``, ``agentotel version``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: agentotel <command> [options]

commands:
  demo      run the instrumented land-use agent demo and print a trace waterfall and a summary
  doctor    check versions, active instrumentors and the OTLP endpoint (sends one test span)
  version   print the agentotel version

Run `agentotel <command> --help` for a command's options."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentotel`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from agentotel.demo import main as demo_main

        return demo_main(rest)
    if command == "doctor":
        from agentotel.doctor import main as doctor_main

        return doctor_main(rest)
    if command in ("version", "--version"):
        from agentotel._telemetry import package_version

        print(package_version())
        return 0
    print(f"agentotel: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
