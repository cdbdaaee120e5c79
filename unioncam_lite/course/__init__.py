"""The course's tools (the ``[dev]`` extra's nbgrader is needed for the conversions): checking the
notebook exercises, exercise copies for learners, the graded nbgrader course, and the disk
cache the notebooks share.

* :mod:`.exercises`: the exercises and their ``check_*`` functions, run by :mod:`.checking` (the
  engine: run, compare, hint, feedback) on visible cases or on :mod:`.hidden_inputs` (a seed's),
  with :mod:`.watching` (did the answer call the library function it should write?);
* :mod:`.assignments`: the nbgrader course, whose hidden tests read the checkers fresh
  (:mod:`.fresh`); :mod:`.student`: exercise copies without grading;
* :mod:`.cache`: ``cached(fn, ...)``, results kept on disk as plain data.

May import: the core (cams, models, data, metrics, viz, outputs, device). Never the applications.
"""
