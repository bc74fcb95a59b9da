"""The transparency tools: they observe the engine, which never imports them.

- ``graph(tensor)``: the computation graph behind a tensor, found by walking
  ``grad_fn``; exported as DOT, or drawn as SVG by plaingrad itself with a
  layered layout (``graph.py``, ``_layout.py``, ``_svg.py``).
- ``GradientMonitor(model)``: per-layer gradient norms, update-to-weight
  ratios and activation statistics while training, judged by ``verdicts()``
  against documented thresholds (``monitor.py``, ``verdicts.py``).
"""

from __future__ import annotations

from .graph import Graph, graph
from .monitor import GradientMonitor
from .verdicts import Verdict

__all__ = ["GradientMonitor", "Graph", "Verdict", "graph"]
