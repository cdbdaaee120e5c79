"""The programs: the command line (``explain``, ``evaluate``, ``train-shapes``, ``student``,
``assignments``), the batch evaluation runner and the interactive explorer.

May import: everything below it (the core: cams, models, data, metrics, viz, outputs, device;
and the course). Nothing imports the applications.
"""
