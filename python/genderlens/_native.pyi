from typing import Optional

import numpy as np
import numpy.typing as npt

__version__: str

class GenderLensError(Exception):
    code: str

class Pipeline:
    def __init__(self, *, small_faces: bool = ..., max_faces: Optional[int] = ...,
                 min_confidence: Optional[float] = ...) -> None: ...
    def analyze_bytes(self, data: bytes) -> str: ...
    def analyze_path(self, path: str) -> str: ...
    def analyze_array(self, array: npt.NDArray[np.uint8]) -> str: ...
