"""The transparency tools: they observe the engine, which never imports them.

- ``graph(tensor)``: the computation graph behind a tensor, found by walking
  ``grad_fn``; exported as DOT, or drawn as SVG by plaingrad itself with a
  layered layout (``graph.py``, ``_layout.py``, ``_svg.py``).
- ``backward(loss)`` / ``with narrate() as story``: the backward pass told
  node by node in plain English, as text, Markdown or HTML (``narrate.py``,
  ``_story.py``, ``_rules.py``, ``_story_render.py``).
- ``GradientMonitor(model)``: per-layer gradient norms, update-to-weight
  ratios and activation statistics while training, judged by ``verdicts()``
  against documented thresholds (``monitor.py``, ``verdicts.py``).
- ``plots``: loss and accuracy curves, a per-layer gradient-norm heatmap and
  the update ratios against the verdicts' thresholds, drawn with matplotlib
  (the ``plot`` extra); import it as ``plaingrad.explain.plots``, so that
  ``import plaingrad.explain`` never loads matplotlib (``plots.py``).
"""

from __future__ import annotations

from .graph import Graph, graph
from .monitor import GradientMonitor
from .narrate import Story, backward, narrate
from .verdicts import Verdict

__all__ = [
    "GradientMonitor",
    "Graph",
    "Story",
    "Verdict",
    "backward",
    "graph",
    "narrate",
]
