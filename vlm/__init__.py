"""InternVL runtime: tiling preprocessing, prompt building and model backends (see the vlm issue)."""
