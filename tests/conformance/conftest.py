"""Write the results of the conformance specs run in this session to JSON.

After a session that ran any conformance spec, ``build/conformance.json`` (or
``$CONFORMANCE_JSON``) holds one record per spec (forward, backward and double
backward status, dtypes, cases run) plus the profile and whether every spec of
the registry ran; ``tools/conformance_table.py`` turns it into
``docs/conformance.md``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from .harness import examples_per_spec, profile
from .registry import groups, spec_names
from .runner import RESULTS


def pytest_sessionfinish(session, exitstatus) -> None:
    if not RESULTS:
        return
    import torch

    root = Path(str(session.config.rootpath))
    path = Path(os.environ.get("CONFORMANCE_JSON", root / "build/conformance.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    names = spec_names()
    report = {
        "profile": profile(),
        "examples_per_spec": examples_per_spec(),
        "complete": set(names) <= set(RESULTS),
        "missing": [n for n in names if n not in RESULTS],
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "results": [
            {"group": groups()[n], **RESULTS[n].as_json()}
            for n in names
            if n in RESULTS
        ],
    }
    path.write_text(json.dumps(report, indent=1) + "\n")
