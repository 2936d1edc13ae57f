"""`lrfr evaluate` — placeholder registered during development; replaced by its real implementation."""


def register(sub):
    p = sub.add_parser("evaluate", help="(not implemented yet)")
    p.set_defaults(handler=lambda args: (_ for _ in ()).throw(NotImplementedError("lrfr evaluate is not implemented yet")))
