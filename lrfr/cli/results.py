"""``lrfr results COMMAND STUDY.toml``: a results table over front-ends × recognizers × seeds (:mod:`lrfr.results`)."""
from __future__ import annotations

COMMANDS = {
    "split": "draw/check the study's identity split and lay it out as train/ and heldout/ folders",
    "export": "copy finished runs' model files, histories and training facts beside the study",
    "evaluate": "score every front-end (resumable: one part file per row), then write the tables",
    "table": "write STEM.csv and STEM.md from the scored rows (and the page that copies them)",
    "grid": "draw STEM.png: faces at HR, LR, bicubic and through each front-end",
    "failures": "where it fails: every pair's outcome per front-end (--only), score distributions, the pairs that flip",
}


def register(sub) -> None:
    p = sub.add_parser("results", help="results tables over front-ends × recognizers × seeds (a study TOML)",
                       description="Run a study file (see lrfr.results.study for its keys; results/real-8x.toml "
                                   "is the real-face table): " + "; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    p.add_argument("action", choices=list(COMMANDS), help="what to do")
    p.add_argument("study", help="the study TOML, e.g. results/real-8x.toml")
    p.add_argument("--only", nargs="+", metavar="LABEL",
                   help="export/evaluate: these front-ends only (default: all); failures: the front-ends to compare "
                        "with hr and bicubic (default: every label of the first section)")
    p.add_argument("--data", default="lfw", help="failures: the pairs data root of the study (default: lfw)")
    p.add_argument("--scorer", help="evaluate: the recognizer that scores (default: the study's first)")
    p.add_argument("--redo", action="store_true", help="evaluate: score again where a part file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    from lrfr.results.study import Study

    study = Study(args.study)
    if args.only:
        unknown = sorted(set(args.only) - set(study.labels))
        if unknown:
            raise KeyError(f"--only: {', '.join(unknown)} not in {args.study} (known: {', '.join(study.labels)})")
    if args.action == "split":
        from lrfr.results.split import prepare_split

        prepare_split(study)
    elif args.action == "export":
        from lrfr.results.export import export

        export(study, only=args.only)
    elif args.action == "evaluate":
        from lrfr.results.scoring import evaluate
        from lrfr.results.tables import write

        evaluate(study, scorer=args.scorer, only=args.only, redo=args.redo, progress=not args.quiet)
        print(write(study))
    elif args.action == "table":
        from lrfr.results.tables import write

        print(write(study))
    elif args.action == "failures":
        from lrfr.results.failures import write as write_failures

        labels = args.only or (study.spec.section[0].rows if study.spec.section else study.labels)
        files = write_failures(study, labels, data_name=args.data, scorer=args.scorer, progress=not args.quiet)
        print(files[1].read_text())
        print("wrote " + ", ".join(str(f) for f in files))
    else:
        from lrfr.results.figures import grid

        print(f"wrote {grid(study)}")
    return 0
