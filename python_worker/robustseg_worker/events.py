"""Plain objects the engine produces and the servicer converts to messages. No grpc, no proto:
the engine and its tests stay independent of the transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    stage: str
    done: int
    total: int  # 0 when unknown
    message: str = ""


@dataclass
class DatasetInfo:
    id: str
    split: str  # "train" | "validation" | "test"
    num_images: int
    height: int
    width: int
    channels: int
    class_names: list[str]
    class_pixel_counts: list[int]
    source: str
    provenance: dict[str, Any]
    # One tag per image where the source has one (PanNuke tissue, Kandinsky concept), and what
    # the tags mean ("tissue", "concept"); empty otherwise.
    tag_name: str = ""
    image_tags: list[str] = field(default_factory=list)


@dataclass
class DatasetsCreated:
    datasets: list[DatasetInfo]
    reused: bool  # every split already existed


@dataclass
class TrainStep:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    loss: float


@dataclass
class EpochSummary:
    epoch: int
    train_loss: float
    validation_loss: float
    validation_confusion: list[list[int]]  # C x C, rows truth, columns prediction
    best: bool  # best validation loss so far: these weights are kept


@dataclass
class ModelInfo:
    id: str
    backend: str
    spec: dict[str, Any]  # resolved (defaults filled in)
    num_classes: int
    class_names: list[str]
    num_parameters: int
    best_epoch: int
    best_validation_loss: float
    history: list[EpochSummary]
    provenance: dict[str, Any]


@dataclass
class ModelTrained:
    model: ModelInfo
    reused: bool


@dataclass
class EvaluationResult:
    confusion: list[list[int]]
    mean_loss: float  # pixel-wise cross-entropy averaged over every pixel
    num_pixels: int
    num_images: int


@dataclass
class WorkerInfo:
    version: str
    device: str
    device_type: str
    torch_version: str
    torch_threads: int
    backends: list[str]
    backend_details: list[Any]  # models.BackendDetails, one per backend
    data_sources: list[str]
    capabilities: list[str]
    workspace: str
    max_message_bytes: int


@dataclass
class DatasetBuilt:
    """Result of AttackDataset / BuildEnhancedDataset."""

    dataset: DatasetInfo
    reused: bool
    mean_linf: float  # mean over images of the L-inf distance to the clean image
    max_linf: float


@dataclass
class ExportChunk:
    offset: int
    data: bytes


@dataclass
class ExportResult:
    file_name: str
    workspace_path: str
    size_bytes: int
    sha256: str
    format: str  # "onnx" | "torchscript" | "safetensors"
    opset: int  # ONNX only, else 0
    input_name: str
    output_name: str
    class_names: list[str]
    metadata: dict[str, str]  # what the file's own metadata holds
    dynamic_axes: list[str]  # e.g. ["batch", "height", "width"]
