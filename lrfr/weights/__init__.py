"""Weights shipped inside the package (small, SynthFaces-trained): see the README."""
