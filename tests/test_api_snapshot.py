"""The public API as ``gradio_client`` sees it (endpoint names, parameter names and defaults, what each returns)
is exactly the committed snapshot: restructuring the code must not change it for any API client.

After a deliberate API change, rewrite the snapshot with ``python tests/test_api_snapshot.py URL`` against the
running app, and say why in the commit.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parent / "data" / "api_snapshot.json"
#: Gradio names an output without a label after its component id (``value_326``), which moves with the layout.
AUTOMATIC_LABEL = re.compile(r"^value_\d+$")


def api_shape(api: dict[str, Any]) -> dict[str, Any]:
    """What a client can rely on: per endpoint, each parameter's name, default and component, and the returns."""
    return {
        name: {
            "parameters": [
                {
                    "name": parameter["parameter_name"],
                    "has_default": parameter["parameter_has_default"],
                    "default": parameter["parameter_default"],
                    "component": parameter["component"],
                    "python_type": parameter["python_type"]["type"],
                }
                for parameter in endpoint["parameters"]
            ],
            "returns": [
                {
                    "label": AUTOMATIC_LABEL.sub("value_*", item["label"]),
                    "component": item["component"],
                    "python_type": item["python_type"]["type"],
                }
                for item in endpoint["returns"]
            ],
        }
        for name, endpoint in sorted(api["named_endpoints"].items())
    }


def test_the_api_is_the_snapshot(client) -> None:
    shape = api_shape(client.view_api(return_format="dict", print_info=False))
    expected = json.loads(SNAPSHOT.read_text())
    assert sorted(shape) == sorted(expected), "endpoints added or removed"
    for name in expected:
        assert shape[name] == expected[name], name


if __name__ == "__main__":
    from gradio_client import Client

    shape = api_shape(Client(sys.argv[1], verbose=False).view_api(return_format="dict", print_info=False))
    SNAPSHOT.write_text(json.dumps(shape, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {SNAPSHOT}: {len(shape)} endpoints")
