"""The training configuration: nested dataclasses read from YAML, with overrides.

A config file has seven parts; every key is optional and has the default below::

    model:  arch, n_feats, n_resblocks, res_scale, graph arguments, initialisation
    data:   scale, train/val sources, crop and batch size, augmentation, workers
    optim:  lr, betas, milestones, gamma, iterations, name, weight_decay, schedule, warmup,
            min_lr, clip_grad_norm
    loss:   name (l1, mse, charbonnier), eps
    ema:    decay (0: off)
    validation: probe_graph
    run:    seed, out_dir, val_every, log_every, threads, deterministic, precision, device, compile

:func:`load_config` reads a file, applies ``section.key=value`` overrides (values in
YAML syntax) and checks every key and type before anything runs, so a typo fails in
a second with the valid names listed, not after an hour of training.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ignn_pyg.inference.checkpoints import ARCHITECTURES
from ignn_pyg.models.ignn import GRAPH_MODES
from ignn_pyg.runtime.precision import PRECISIONS

from .distributed import DEVICES
from .losses import LOSSES
from .optimization import OPTIMIZERS, SCHEDULES
from .planted_recurrence import PLANT_DECAYS, min_plant_crop

__all__ = [
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "LossConfig",
    "EMAConfig",
    "ValidationConfig",
    "RunConfig",
    "TrainConfig",
    "TRAIN_SOURCES",
    "VAL_SOURCES",
    "config_from_dict",
    "load_config",
    "parse_override",
    "apply_overrides",
    "config_to_yaml",
]

TRAIN_SOURCES = ("photos", "folder", "div2k")
VAL_SOURCES = ("photos", "folder", "div2k", "benchmark")


@dataclass
class ModelConfig:
    """The network and its initialisation.

    ``arch`` is ``"ignn"`` or ``"edsr"``; the scale comes from ``data.scale``; ``residual``
    (``"none"``, the authors', or ``"bicubic"``) see :func:`~ignn_pyg.nn.blocks.output_residual`.  The graph
    fields (``num_neighbors`` ... ``graph``) apply to IGNN only; ``None`` keeps the
    :class:`~ignn_pyg.models.IGNN` default.  ``graph`` picks what the aggregation receives:
    ``cross_scale`` (the authors' graph) or, as controls for studies, ``random`` or ``none``.
    Initialisation (the authors'): every
    trainable convolution gets Kaiming-normal weights (fan-in, ReLU gain) times
    ``init_scale`` and zero biases; the frozen mean shifts keep their values, and the
    frozen VGG embedding convs get the same scaled noise when ``init_embedding`` is true
    (the authors' initialisation overwrites them too; their checkpoints carry that noise).
    ``init_unscaled`` (not the authors'; empty by default) names modules (e.g. ``fuse_hr``)
    whose convolutions keep the plain Kaiming scale (``init_scale`` 1): with ``residual:
    bicubic`` the small HR fusion before IGNN's last ReLU otherwise dies within the first
    steps (docs/model_zoo.md, "Dead HR channels").
    ``init_from`` (a checkpoint path; empty: none) replaces that initialisation by the checkpoint's
    weights, which must be those of the same model (a warm start: the optimiser and the
    schedule start afresh; e.g. a bundled model trained further).
    """

    arch: str = "ignn"
    n_feats: int = 256
    n_resblocks: int = 32
    res_scale: float = 0.1
    residual: str = "none"
    num_neighbors: int | None = None
    window: int | None = None
    patch_size: int | None = None
    stride: int | None = None
    fusion: str | None = None
    window_indexing: str | None = None
    backend: str | None = None
    aggregation: str | None = None
    reduced_channels: int | None = None
    embedding: str | None = None
    graph: str | None = None
    init_scale: float = 0.1
    init_embedding: bool = True
    init_unscaled: list[str] = field(default_factory=list)
    init_from: str = ""


#: the IGNN-only fields: those whose default ``None`` means "the IGNN default"
_GRAPH_FIELDS = tuple(f.name for f in fields(ModelConfig) if f.default is None)


@dataclass
class DataConfig:
    """Training and validation data.

    Sources: ``photos`` (the installed wallpapers reduced to ``long_side`` for training,
    the eval photos for validation; Debian files below ``photos_root``), ``folder``
    (HR images directly in ``*_root``), ``div2k`` (``*_root`` holds ``DIV2K_train_HR``;
    validation reads ``DIV2K_valid_HR`` and its LR files) and, for validation only,
    ``benchmark`` (``*_root/HR`` + ``*_root/LR_bicubic/X{scale}``).  ``train_lr_dir``
    (``folder`` and ``div2k`` only) trains on paired data: each HR image's LR partner
    from that folder, matched by name (``0001.png`` <-> ``0001.png`` or ``0001x2.png``:
    the ``LR_bicubic/X{scale}`` layout), instead of bicubic LR made on the fly; every pair
    is checked before training.

    Training samples are random ``crop_size`` HR crops (a multiple of ``scale``),
    flipped / rotated by 90 degrees / channel-permuted (with probability
    ``channel_shuffle_prob``), with probability ``plant_recurrence`` given a planted
    cross-scale recurrence (:mod:`~ignn_pyg.training.planted_recurrence`; a study lever,
    0 by default), then bicubic-downsampled to the LR input.  ``plant_decay`` lets that
    share change over the run's ``optim.iterations``
    (:class:`~ignn_pyg.training.planted_recurrence.PlantSchedule`): ``constant`` (the
    default), ``step`` (``plant_recurrence`` before ``plant_until`` of the iterations,
    ``plant_final`` after) or ``linear`` (from ``plant_recurrence`` to ``plant_final`` at
    ``plant_until`` of the iterations).  ``batch_size``
    is the global batch, split evenly over distributed ranks.  ``cache`` keeps folder
    images in memory (photos always are).  Validation uses the first ``val_images``
    images (0: all), centre-cropped to at most ``val_max_side`` HR pixels (0: whole).
    """

    scale: int = 2
    train: str = "photos"
    train_root: str = ""
    train_lr_dir: str = ""
    val: str = "photos"
    val_root: str = ""
    photos_root: str = "/"
    long_side: int = 1280
    cache: bool = False
    crop_size: int = 96
    batch_size: int = 8
    workers: int = 2
    flips: bool = True
    rotations: bool = True
    channel_shuffle_prob: float = 0.8
    plant_recurrence: float = 0.0
    plant_decay: str = "constant"
    plant_until: float = 1.0
    plant_final: float = 0.0
    val_images: int = 0
    val_max_side: int = 0


@dataclass
class OptimConfig:
    """The optimiser and its schedule (:mod:`~ignn_pyg.training.optimization`): ``name``
    ``adam`` (default) or ``adamw`` with ``weight_decay``; ``schedule`` ``multistep``
    (default: the learning rate multiplied by ``gamma`` at each milestone, in iterations)
    or ``cosine`` after ``warmup`` iterations of linear warm-up, down to ``min_lr``;
    ``clip_grad_norm`` (0: off) bounds the gradients' global 2-norm.  The defaults are the
    authors' recipe."""

    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    iterations: int = 1000
    name: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "multistep"
    warmup: int = 0
    min_lr: float = 0.0
    clip_grad_norm: float = 0.0


@dataclass
class LossConfig:
    """The reconstruction loss (:mod:`~ignn_pyg.training.losses`): ``name`` ``l1`` (the
    authors', default), ``mse`` or ``charbonnier`` with ``eps`` (grey levels)."""

    name: str = "l1"
    eps: float = 1e-3


@dataclass
class EMAConfig:
    """The exponential moving average of the weights
    (:mod:`~ignn_pyg.training.weight_average`): ``decay`` in (0, 1), such as BasicSR's
    0.999, or 0 (the default) for none.  With it on, validation and ``best.pt`` use the
    average, checkpoints hold it beside the raw weights, and ``eval``/``upscale`` load it."""

    decay: float = 0.0


@dataclass
class ValidationConfig:
    """What each validation measures besides PSNR/SSIM: with ``probe_graph`` (default) an
    IGNN with a graph is also scored with random neighbours, for the ``val_reliance``
    column (:func:`~ignn_pyg.evaluation.probe_graph`), which doubles the validation's
    cost; ``false`` skips it."""

    probe_graph: bool = True


@dataclass
class RunConfig:
    """Bookkeeping: ``out_dir`` receives ``last.pt``, ``best.pt``, ``log.csv``,
    ``progress.png``, ``config.yaml`` and TensorBoard events.  ``threads`` sets
    ``torch.set_num_threads`` (0: PyTorch's default); ``deterministic`` asks PyTorch for
    deterministic kernels (bitwise-reproducible resumes on CPU).  ``precision`` is
    ``fp32`` (the exact path), ``bf16``/``fp16`` (autocast with float32 master weights,
    optimiser state and loss; fp16 on CUDA with a gradient scaler) or ``auto``
    (:func:`~ignn_pyg.runtime.precision.resolve_precision`); validation runs in it too.
    ``device`` is ``auto`` (process ``LOCAL_RANK`` on GPU ``LOCAL_RANK`` when CUDA is
    there, else the CPU), ``cuda`` or ``cpu`` (also on a machine with GPUs).  ``compile``
    runs the network's dense parts through ``torch.compile``
    (:func:`~ignn_pyg.inference.compilation.compile_dense_parts`; off by default, and
    skipped with a warning where there is no C++ compiler)."""

    seed: int = 0
    out_dir: str = "runs/train"
    val_every: int = 1000
    log_every: int = 50
    threads: int = 0
    deterministic: bool = False
    precision: str = "fp32"
    device: str = "auto"
    compile: bool = False


@dataclass
class TrainConfig:
    """A whole training run; see the module docstring."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def model_kwargs(self) -> dict[str, Any]:
        """The model's constructor arguments, ``{"arch", "scale", ...}``, as
        :func:`~ignn_pyg.inference.checkpoints.build_model` takes them."""
        m = self.model
        kwargs: dict[str, Any] = {
            "arch": m.arch,
            "scale": self.data.scale,
            "n_feats": m.n_feats,
            "n_resblocks": m.n_resblocks,
            "res_scale": m.res_scale,
            "residual": m.residual,
        }
        kwargs.update({name: getattr(m, name) for name in _GRAPH_FIELDS if getattr(m, name) is not None})
        return kwargs


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` checked against ``annotation`` (int, float, bool, str, ``list[...]``,
    ``X | None``); ints pass as floats and strings such as ``"1e-4"`` (which YAML 1.1
    reads as text) as floats."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError(
                f"config key {key!r} must be a list of {_type_name(args[0])}, got {type(value).__name__} {value!r}"
            )
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, annotation):
        return value
    raise TypeError(f"config key {key!r} must be {_type_name(annotation)}, got {type(value).__name__} {value!r}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, recursing into nested dataclasses."""
    if not isinstance(values, dict):
        raise TypeError(
            f"config section {prefix or '(top level)'!r} must be a mapping, got {type(values).__name__} {values!r}"
        )
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in valid:
            raise ValueError(
                f"unknown config key {name!r}; valid keys{' in ' + repr(prefix[:-1]) if prefix else ''}: "
                f"{', '.join(valid)}"
            )
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value, f"{name}.")
        else:
            kwargs[key] = _coerce(value, hints[key], name)
    return cls(**kwargs)


def _check(config: TrainConfig) -> None:
    """Relations between values that single types cannot express."""
    m, d, o, r = config.model, config.data, config.optim, config.run

    def require(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(message)

    require(m.arch in ARCHITECTURES, f"model.arch must be {' or '.join(map(repr, ARCHITECTURES))}, got {m.arch!r}")
    if m.arch == "edsr":
        set_graph = [name for name in _GRAPH_FIELDS if getattr(m, name) is not None]
        require(not set_graph, f"model.{', model.'.join(set_graph)} apply to arch 'ignn' only, not 'edsr'")
    require(m.graph is None or m.graph in GRAPH_MODES, f"model.graph must be one of {GRAPH_MODES}, got {m.graph!r}")
    require(
        m.n_feats >= 1 and m.n_resblocks >= 1,
        f"model.n_feats and model.n_resblocks must be positive, got {m.n_feats}, {m.n_resblocks}",
    )
    require(m.init_scale > 0, f"model.init_scale must be positive, got {m.init_scale}")
    require(not m.init_from or Path(m.init_from).is_file(), f"model.init_from: no such file {m.init_from}")
    require(d.scale in (2, 3, 4), f"data.scale must be 2, 3 or 4, got {d.scale}")
    require(d.train in TRAIN_SOURCES, f"data.train must be one of {TRAIN_SOURCES}, got {d.train!r}")
    require(d.val in VAL_SOURCES, f"data.val must be one of {VAL_SOURCES}, got {d.val!r}")
    require(d.train == "photos" or bool(d.train_root), f"data.train {d.train!r} needs data.train_root")
    require(
        not d.train_lr_dir or d.train in ("folder", "div2k"),
        f"data.train_lr_dir needs data.train 'folder' or 'div2k' (HR images to pair), got {d.train!r}",
    )
    require(
        not d.train_lr_dir or d.plant_recurrence == 0,
        "data.plant_recurrence needs LR made from the HR crop; it cannot be used with data.train_lr_dir",
    )
    require(d.val == "photos" or bool(d.val_root), f"data.val {d.val!r} needs data.val_root")
    require(
        d.crop_size >= d.scale and d.crop_size % d.scale == 0,
        f"data.crop_size must be a positive multiple of data.scale={d.scale}, got {d.crop_size}",
    )
    require(d.batch_size >= 1, f"data.batch_size must be positive, got {d.batch_size}")
    require(d.workers >= 0, f"data.workers must be >= 0, got {d.workers}")
    require(d.long_side >= 1, f"data.long_side must be positive, got {d.long_side}")
    require(
        0.0 <= d.channel_shuffle_prob <= 1.0,
        f"data.channel_shuffle_prob must be in [0, 1], got {d.channel_shuffle_prob}",
    )
    require(0.0 <= d.plant_recurrence <= 1.0, f"data.plant_recurrence must be in [0, 1], got {d.plant_recurrence}")
    require(d.plant_decay in PLANT_DECAYS, f"data.plant_decay must be one of {PLANT_DECAYS}, got {d.plant_decay!r}")
    require(0.0 < d.plant_until <= 1.0, f"data.plant_until must be in (0, 1], got {d.plant_until}")
    require(
        0.0 <= d.plant_final <= d.plant_recurrence or d.plant_decay == "constant",
        f"data.plant_final must be in [0, data.plant_recurrence={d.plant_recurrence}], got {d.plant_final}",
    )
    if d.plant_recurrence > 0:
        minimum = min_plant_crop(d.scale)
        require(
            d.crop_size >= minimum,
            f"data.plant_recurrence needs data.crop_size >= {minimum} at x{d.scale}, got {d.crop_size}",
        )
    require(
        d.val_images >= 0 and d.val_max_side >= 0,
        f"data.val_images and data.val_max_side must be >= 0, got {d.val_images}, {d.val_max_side}",
    )
    require(
        d.val_max_side == 0 or d.val_max_side >= 16 * d.scale,
        f"data.val_max_side must be 0 or at least {16 * d.scale} at scale {d.scale}, got {d.val_max_side}",
    )
    require(o.lr > 0, f"optim.lr must be positive, got {o.lr}")
    require(
        len(o.betas) == 2 and all(0.0 <= b < 1.0 for b in o.betas),
        f"optim.betas must be two numbers in [0, 1), got {o.betas}",
    )
    require(o.iterations >= 1, f"optim.iterations must be positive, got {o.iterations}")
    require(
        all(a < b for a, b in zip(o.milestones, o.milestones[1:])) and all(x >= 1 for x in o.milestones),
        f"optim.milestones must be increasing positive iterations, got {o.milestones}",
    )
    require(0.0 < o.gamma <= 1.0, f"optim.gamma must be in (0, 1], got {o.gamma}")
    require(o.name in OPTIMIZERS, f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {o.name!r}")
    require(o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    require(o.schedule in SCHEDULES, f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {o.schedule!r}")
    require(0 <= o.warmup < o.iterations, f"optim.warmup must be in [0, optim.iterations), got {o.warmup}")
    require(o.warmup == 0 or o.schedule == "cosine", "optim.warmup needs optim.schedule: cosine")
    require(0 <= o.min_lr <= o.lr, f"optim.min_lr must be in [0, optim.lr], got {o.min_lr}")
    require(o.clip_grad_norm >= 0, f"optim.clip_grad_norm must be >= 0 (0: off), got {o.clip_grad_norm}")
    require(config.loss.name in LOSSES, f"loss.name must be one of {', '.join(LOSSES)}, got {config.loss.name!r}")
    require(config.loss.eps > 0, f"loss.eps must be positive, got {config.loss.eps}")
    require(
        config.ema.decay == 0 or 0 < config.ema.decay < 1,
        f"ema.decay must be in (0, 1), or 0 for no EMA, got {config.ema.decay}",
    )
    require(
        r.val_every >= 1 and r.log_every >= 1,
        f"run.val_every and run.log_every must be positive, got {r.val_every}, {r.log_every}",
    )
    require(r.threads >= 0, f"run.threads must be >= 0, got {r.threads}")
    require(r.precision in PRECISIONS, f"run.precision must be one of {', '.join(PRECISIONS)}, got {r.precision!r}")
    require(r.device in DEVICES, f"run.device must be one of {', '.join(DEVICES)}, got {r.device!r}")
    require(bool(r.out_dir), "run.out_dir must not be empty")


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A checked :class:`TrainConfig` from nested plain values.

    Raises:
        ValueError: an unknown key (named, with the valid ones) or an invalid value.
        TypeError: a value of the wrong type.
    """
    config = _build(TrainConfig, values, "")
    _check(config)
    return config


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=2e-4"`` -> ``(["optim", "lr"], 2e-4)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} is not of the form section.key=value")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``section.key=value`` overrides (:func:`parse_override`) in nested ``values``,
    in place and in order; returns ``values``."""
    for text in overrides:
        keys, value = parse_override(text)
        node = values
        for part in keys[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {text!r}: {part!r} is not a section")
        node[keys[-1]] = value
    return values


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from the defaults when ``path`` is None), apply
    ``overrides`` in order, and check the result (see :func:`config_from_dict`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unreadable YAML, a malformed override, an unknown key or a bad value
            (a wrong type is reported as ValueError too, as a user error).
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"cannot parse {str(path)!r}: {err}") from err
        if not isinstance(values, dict):
            raise ValueError(f"{str(path)!r} must hold a mapping of sections, got {type(values).__name__}")
    apply_overrides(values, overrides)
    try:
        return config_from_dict(values)
    except TypeError as err:
        raise ValueError(str(err)) from err


def config_to_yaml(config: TrainConfig) -> str:
    """The config as YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(asdict(config), sort_keys=False)
