"""Learning-rate schedulers, one family per file; ``optim.lr_scheduler`` is the
public face.

A scheduler owns no parameters: it reads and writes ``optimizer.param_groups``
(``lr``, and ``momentum`` or ``betas`` for the cyclic ones), so it works with
any optimizer. ``base.py`` holds ``LRScheduler``, which counts steps in
``last_epoch``, keeps each group's starting rate as ``initial_lr`` and the
rates it set last in ``_last_lr``. Most schedules are written, as PyTorch
writes them, in a chainable form (each rate is a factor times the group's
current rate) so that several schedulers can act on one optimizer; keeping
PyTorch's formulas term for term also keeps the sequences equal to its own to
the last bit.
"""
