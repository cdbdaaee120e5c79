"""The subcommands of ``python -m unioncam_lite`` (:mod:`unioncam_lite.apps.cli`), one module each:
its argparse parser (``register``) and what it runs. Heavy imports (torch models, pandas,
nbformat) happen only in the command that is run."""
