"""Images in and out, the MATLAB-bicubic degradation, and SR datasets.

``image_io``  read/write RGB images, numpy <-> tensor, 8-bit rounding
``resize``    MATLAB ``imresize`` (bicubic), ``modcrop``, the bicubic LR degradation
``datasets``  paired (HR + LR folders, DIV2K, benchmarks) and HR-only SR datasets, the sets of a benchmark folder
``photos``    real photographs installed by pip and Debian packages, hash-checked
``atomic_files``   output files written whole or not at all (temporary name, then rename)
``output_checks``  refusals made before any work: an output that is an input, exists, or clashes
"""

from .datasets import (
    BENCHMARK_SETS,
    HRFolderDataset,
    PairedFolderDataset,
    benchmark_dataset,
    div2k_dataset,
    find_benchmark_sets,
    make_sr_pair,
)
from .image_io import (
    ALPHA_SUFFIXES,
    channels_to_uint8,
    image_size,
    image_to_tensor,
    quantize,
    read_image,
    read_image_and_alpha,
    tensor_to_image,
    write_image,
)
from .photos import (
    PhotoChecksumError,
    PhotoDataset,
    PhotoNotInstalledError,
    downscale_photo,
    list_photos,
    load_photo,
    load_training_photo,
    photo_path,
)
from .resize import bicubic_downsample, bicubic_upsample, downsample_for_graph, imresize, modcrop

__all__ = [
    "read_image",
    "read_image_and_alpha",
    "image_size",
    "ALPHA_SUFFIXES",
    "write_image",
    "image_to_tensor",
    "tensor_to_image",
    "channels_to_uint8",
    "quantize",
    "imresize",
    "bicubic_upsample",
    "downsample_for_graph",
    "modcrop",
    "bicubic_downsample",
    "PairedFolderDataset",
    "HRFolderDataset",
    "div2k_dataset",
    "benchmark_dataset",
    "find_benchmark_sets",
    "BENCHMARK_SETS",
    "make_sr_pair",
    "list_photos",
    "photo_path",
    "load_photo",
    "load_training_photo",
    "downscale_photo",
    "PhotoDataset",
    "PhotoNotInstalledError",
    "PhotoChecksumError",
]
