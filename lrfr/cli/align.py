"""`lrfr align` — placeholder registered during development; replaced by its real implementation."""


def register(sub):
    p = sub.add_parser("align", help="(not implemented yet)")
    p.set_defaults(handler=lambda args: (_ for _ in ()).throw(NotImplementedError("lrfr align is not implemented yet")))
