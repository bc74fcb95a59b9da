"""Conformance suite: every op and module of issue 3 checked against PyTorch.

``harness.py`` is the spec API (read its docstring first); ``specs_*.py`` hold the
specs, one file per group; ``runner.py`` runs them; ``conftest.py`` writes the
results to ``build/conformance.json``, from which ``tools/conformance_table.py``
generates ``docs/conformance.md``.
"""
