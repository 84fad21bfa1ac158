"""Write docs/openapi.json from the code (the API's OpenAPI document, as served at /api/v1/openapi.json).

Run after changing the API: python scripts/openapi.py (a test checks the two match).
"""

import json
from pathlib import Path

from tui_helpdesk.api.app import create_app

path = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
path.write_text(json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n")
print(f"wrote {path}")
