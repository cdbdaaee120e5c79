"""The programs: the command line (cli, one module per subcommand in commands: ``explain``,
``evaluate``, ``train-shapes``, ``student``, ``assignments``), the batch evaluation (evaluation),
the training of the shapes models (train_shapes) and the interactive explorer (explore).

May import: everything below it (the core: cams, models, data, metrics, viz, outputs, device;
and the course). Nothing imports the applications.
"""
