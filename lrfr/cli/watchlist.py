"""``lrfr watchlist make``: a seeded watchlist split of an identity folder (``OUT/enrol``, ``OUT/probes-hr``;
:func:`lrfr.data.probe_sets.make_watchlist`), e.g. the LFW watchlist of docs/deployment.md."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("watchlist", help="make a watchlist split of an identity folder (enrolment photos, probes)")
    wsub = p.add_subparsers(dest="watchlist_command", metavar="ACTION")
    wsub.required = True
    m = wsub.add_parser("make", help="OUT/enrol (one photo per enrolled identity) and OUT/probes-hr (their other "
                                     "photos, and one photo each of people not enrolled)")
    m.add_argument("--data", required=True, help="identity folder (LFW's lfw-112x96, a CelebA split, ...)")
    m.add_argument("--out", required=True, help="folder to write")
    m.add_argument("--enrolled", type=int, default=200, help="identities enrolled (default 200)")
    m.add_argument("--unknown", type=int, default=200, help="people not enrolled, one probe each (default 200)")
    m.add_argument("--probes-per-identity", type=int, default=2, help="probes of each enrolled identity (default 2)")
    m.add_argument("--unknown-per-identity", type=int, default=1, help="probes of each person not enrolled (default 1)")
    m.add_argument("--exclude-identities-of", default=None,
                   help="another watchlist folder (or identity folder): none of its identities is used")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--overwrite", action="store_true")
    m.set_defaults(handler=run)


def run(args) -> int:
    from lrfr.data.probe_sets import make_watchlist

    from pathlib import Path

    exclude = None
    if args.exclude_identities_of:
        other = Path(args.exclude_identities_of)
        if not other.is_dir():
            raise FileNotFoundError(f"--exclude-identities-of: folder not found: {other}")
        exclude = sorted({p.name for sub in (other, other / "enrol", other / "probes-hr", other / "probes")
                          if sub.is_dir() for p in sub.iterdir() if p.is_dir()})
    r = make_watchlist(args.data, args.out, enrolled=args.enrolled, unknown=args.unknown,
                       probes_per_identity=args.probes_per_identity, unknown_per_identity=args.unknown_per_identity,
                       exclude=exclude, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {args.out}/enrol ({r['enrolled']} identities, one photo each) and {args.out}/probes-hr "
          f"({r['known_probes']} probes of enrolled people, {r['unknown_probes']} of others); next: "
          f"lrfr degrade {args.out}/probes-hr {args.out}/probes --scale 8")
    return 0
