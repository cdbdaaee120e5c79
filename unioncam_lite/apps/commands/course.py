"""``student`` and ``assignments``: the course notebooks as exercise copies for self-paced
learners (:mod:`unioncam_lite.course.student`) and as an nbgrader course for instructors
(:mod:`unioncam_lite.course.assignments`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: The course notebooks of a source checkout (the default of ``assignments``).
NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


def register(sub: Any) -> None:
    """Add the ``student`` and ``assignments`` parsers to the subcommands ``sub``."""
    p = sub.add_parser("student", help="exercise copies of the notebooks for self-paced learners",
                       description="Write an exercise copy of every notebook in SRC into DEST: each solution region "
                                   "(the whole body of a solution function, or the marked lines of a scaffold) "
                                   "becomes a stub that raises NotImplementedError. Copies already in DEST are "
                                   "kept unless --overwrite.")
    p.add_argument("src", metavar="SRC", help="the folder of the course notebooks")
    p.add_argument("dest", metavar="DEST", help="the folder for the exercise copies (created if needed)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace copies that already exist in DEST (default: keep them, they are the learner's work)")
    p.set_defaults(run=student)

    p = sub.add_parser("assignments", help="an nbgrader course (source/ and nbgrader_config.py) from the notebooks",
                       description="Write an nbgrader course (source/ and nbgrader_config.py) from the course "
                                   "notebooks.")
    p.add_argument("notebooks", nargs="?", default=str(NOTEBOOKS), help="default: notebooks/")
    p.add_argument("course", nargs="?", default="course", help="default: ./course")
    p.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: the one stored in "
                                            "COURSE/hidden_tests_seed.txt, drawn at random at the first run)")
    p.add_argument("--new-seed", action="store_true",
                   help="draw a fresh seed (a new term or release: the feedback shows the old one)")
    p.add_argument("--points", type=float, default=2, help="points of each autograded exercise (default 2)")
    p.add_argument("--think-points", type=float, default=1,
                   help="points of each manually graded 'Think' answer (default 1)")
    p.add_argument("--exchange", help="nbgrader exchange folder, only for a new nbgrader_config.py "
                                      "(default: COURSE/exchange)")
    p.add_argument("--course-id", default="unioncam-lite", help="the nbgrader course id (default unioncam-lite)")
    p.set_defaults(run=assignments)


def student(args: argparse.Namespace) -> int:
    """Write the exercise copies and say how many."""
    from ...course.student import make_student_copies

    written = make_student_copies(Path(args.src), Path(args.dest), overwrite=args.overwrite)
    kept = len(list(Path(args.src).glob("*.ipynb"))) - len(written)
    print(f"wrote {len(written)} exercise notebooks to {args.dest}"
          + (f"; kept the {kept} already there (your work: --overwrite replaces them)" if kept else ""))
    return 0


def assignments(args: argparse.Namespace) -> int:
    """Write the course; print each notebook written, the seed of the hidden tests and the config used."""
    from ...course.assignments import course_seed, make_course

    seed, how = course_seed(Path(args.course), args.seed, args.new_seed)
    config = Path(args.course) / "nbgrader_config.py"
    config_existed = config.exists()
    written = make_course(Path(args.notebooks), Path(args.course), seed=seed, points=args.points,
                          think_points=args.think_points, exchange=args.exchange, course_id=args.course_id)
    for path in written:
        print(f"wrote {path}")
    kept = " (kept the existing one)" if config_existed else ""
    print(f"{len(written)} assignments in {args.course}/source, hidden tests with seed {seed} ({how}; a new term: "
          f"--new-seed); nbgrader config: {config}{kept}")
    if config_existed and args.exchange:
        print("note: --exchange was not applied: edit c.Exchange.root in the existing nbgrader_config.py")
    if config_existed and "configure_feedback" not in config.read_text():
        print("note: this nbgrader_config.py predates offline feedback; add these two lines to it so that the "
              "feedback's equations show without network:\n"
              "    from unioncam_lite.course.feedback import configure_feedback\n    configure_feedback(c)")
    return 0
