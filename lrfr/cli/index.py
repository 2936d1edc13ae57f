"""`lrfr index` — placeholder registered during development; replaced by its real implementation."""


def register(sub):
    p = sub.add_parser("index", help="(not implemented yet)")
    p.set_defaults(handler=lambda args: (_ for _ in ()).throw(NotImplementedError("lrfr index is not implemented yet")))
