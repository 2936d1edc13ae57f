"""Face priors a front-end needs to know about a face: landmark heatmaps (:mod:`.landmarks`) and,
face-parsing providers (:mod:`.parsing`). Submodules are imported explicitly by their users."""
