"""The identity split a study's training runs use: drawn, checked against its committed file, laid out."""
from __future__ import annotations

from pathlib import Path

from lrfr.results.study import Study


def prepare_split(study: Study) -> dict[str, Path]:
    """Draw ``[split]``'s held-out identities, check them against ``file`` (or write it when absent), and lay
    the split out under ``out`` as ``train/`` and ``heldout/`` folders of links (the source stays read-only)."""
    from lrfr.data.folders import scan_identity_folders
    from lrfr.data.split import materialize, read_split, split_identities

    s = study.spec.split
    if s is None:
        raise ValueError(f"{study.path}: no [split] section")
    source, file = study.resolve(s.data), study.resolve(s.file)
    _, _, identities = scan_identity_folders(source)
    drawn = split_identities(identities, s.heldout, seed=s.seed)
    if file.is_file():
        if read_split(file) != drawn:
            raise ValueError(f"{file} is not the split drawn from {source} with seed {s.seed}: the data folder "
                             "changed, or the file was edited")
    else:
        drawn.write(file)
    folders = materialize(source, drawn, study.resolve(s.out))
    print(f"{len(drawn.train)} training and {len(drawn.heldout)} held-out identities ({file}) → "
          + ", ".join(str(p) for p in folders.values()))
    return folders
