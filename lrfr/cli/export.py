"""``lrfr export MODEL --onnx OUT``: a recognizer or generator as an ONNX file, checked against PyTorch
(:mod:`lrfr.export`)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="export a recognizer or generator to ONNX, checked against PyTorch",
                       description="Export a model file (or packaged:NAME) to ONNX: recognizers BatchNorm-folded, "
                                   "generators with their bicubic skip, dynamic batch, lrfr metadata inside. The "
                                   "export is run by onnxruntime against PyTorch on faces before it is written.")
    p.add_argument("model", nargs="+", help="model files or packaged:NAME (several: --onnx is a folder)")
    p.add_argument("--onnx", required=True, help="ONNX file to write (a folder when several models are given)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: lrfr.export.OPSET)")
    p.add_argument("--check-faces", default=None,
                   help="a folder of aligned faces at the recognizer's size to check on (default: SynthFaces renders)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from lrfr.export import to_onnx
    from lrfr.onnx_files import CHECK_FACES, OPSET, ExportError

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ExportError(f"lrfr export needs onnx and onnxruntime ({err.name} is missing): pip install 'lrfr[onnx]'") from None
    faces = None
    if args.check_faces:
        from lrfr.gallery import read_faces

        faces = torch.stack(read_faces(args.check_faces, "check").images[:CHECK_FACES])
    out = Path(args.onnx)
    several = len(args.model) > 1
    for model in args.model:
        target = out / (Path(model.split(":", 1)[-1]).stem + ".onnx") if several else out
        report = to_onnx(model, target, opset=args.opset or OPSET, faces=faces)
        print(report.line())
    return 0
