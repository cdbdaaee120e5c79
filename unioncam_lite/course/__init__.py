"""The course's tools (the ``course`` extra's nbformat and nbgrader are needed for the conversions): checking the
notebook exercises, exercise copies for learners, the graded nbgrader course, and the disk
cache the notebooks share.

* :mod:`.exercises`: the exercises and their ``check_*`` functions (those of 04 and 05 in
  :mod:`.union_exercises`), run by :mod:`.checking` (the engine: run, compare, hint, feedback) on
  visible cases or on :mod:`.hidden_inputs` (a seed's), with :mod:`.case_notes` (what is special
  about a failed case) and :mod:`.watching` (did the answer call the library function it should write?);
* :mod:`.assignments`: the nbgrader course, whose hidden tests read the checkers fresh
  (:mod:`.fresh`), with feedback pages readable offline (:mod:`.feedback`) and small inputs while
  nbgrader grades (:mod:`.autograding`); :mod:`.student`: exercise copies without grading;
* :mod:`.cache`: ``cached(fn, ...)``, results kept on disk as plain data.
* :mod:`.extras`: the ``course`` extra's packages, imported where used, with an error naming the extra.

May import: the core (cams, models, data, metrics, viz, outputs, device). Never the applications.
"""
