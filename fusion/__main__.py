"""The command line: ``python -m fusion download|evaluate|batch|evaluate-agent|compile ...``."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "download": ("fusion.download", "fetch the default models' files into the Hugging Face cache"),
    "evaluate": (
        "fusion.evaluate",
        "held-out accuracy of every classification head on an ImageFolder dataset",
    ),
    "batch": ("fusion.batch", "run panels' tasks over a folder, glob or Parquet file"),
    "evaluate-agent": ("fusion.agent.evaluate", "plan accuracy of the Ask assistant over a committed request set"),
    "compile": ("fusion.precompile", "compile models ahead of time for this machine (AOTInductor packages)"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print("usage: python -m fusion {" + ",".join(COMMANDS) + "} [options]\n")
        for name, (_module, help_text) in COMMANDS.items():
            print(f"  {name:<10} {help_text}")
        return 0 if args and args[0] in {"-h", "--help"} else 2
    module_name, _help = COMMANDS[args[0]]
    return importlib.import_module(module_name).main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
