"""GenderLens: faces and their apparent gender in photos, on this machine.

    import genderlens
    pipeline = genderlens.Pipeline()
    result = pipeline.analyze_path("photo.jpg")
    for face in result["faces"]:
        print(face["box"], face["label"], face["confidence"])

Results are plain dicts in the command line's JSON shape (``genderlens predict --json``).
One ``Pipeline`` serves one thread at a time (calls on it take turns): give each thread or
process of a data engine its own, and they run in parallel, the GIL released while each
works. Every refused image raises ``GenderLensError`` with the command line's message and a
``code``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Union

from . import _native
from ._native import GenderLensError

__all__ = ["Pipeline", "GenderLensError", "__version__"]
__version__: str = _native.__version__

Result = Dict[str, Any]


class Pipeline:
    """The detector and classifier embedded in this package.

    ``small_faces`` also searches photos larger than 1 024 px at their full resolution, in
    tiles, for faces down to about 24 px there; ``max_faces`` keeps the most confident
    detections; ``min_confidence`` (0.5–1) drops the faces whose label is less sure.
    """

    def __init__(self, *, small_faces: bool = False, max_faces: Optional[int] = None,
                 min_confidence: Optional[float] = None) -> None:
        self._options = {"small_faces": small_faces, "max_faces": max_faces, "min_confidence": min_confidence}
        self._native = _native.Pipeline(**self._options)

    def __getstate__(self) -> Dict[str, Any]:
        # Sent to another process (Spark, Ray, Dask, multiprocessing) as its options: the
        # process that receives it loads its own copy of the embedded model.
        return dict(self._options)

    def __setstate__(self, options: Dict[str, Any]) -> None:
        self.__init__(**options)

    def analyze_bytes(self, data: bytes) -> Result:
        """An encoded image (JPEG, PNG, GIF, WebP, BMP): ``{width, height, faces, detect_ms,
        classify_ms}``."""
        return json.loads(self._native.analyze_bytes(data))

    def analyze_array(self, image: Any) -> Result:
        """A numpy ``H × W × 3`` array of 8-bit RGB, as above."""
        return json.loads(self._native.analyze_array(image))

    def analyze_path(self, path: Union[str, "os.PathLike[str]"], *, errors: str = "raise") -> Result:
        """An image file: ``{file, width, height, faces, error}``, the command line's line of
        ``predict --jsonl``. With ``errors="row"`` a file that cannot be analysed gives that
        line with its ``error`` (and no faces) instead of raising, so a batch goes on."""
        if errors not in ("raise", "row"):
            raise ValueError(f'errors must be "raise" or "row", not {errors!r}')
        file = os.fspath(path)
        try:
            result = json.loads(self._native.analyze_path(file))
        except GenderLensError as e:
            if errors == "raise":
                raise
            return {"file": file, "width": None, "height": None, "faces": [], "error": str(e)}
        return {"file": file, "width": result["width"], "height": result["height"],
                "faces": result["faces"], "error": None}

    def analyze_paths(self, paths: List[Union[str, "os.PathLike[str]"]]) -> List[Result]:
        """Each file's line, errors as rows: a partition's worth for a data engine."""
        return [self.analyze_path(p, errors="row") for p in paths]
