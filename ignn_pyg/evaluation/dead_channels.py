"""Dead ReLU channels: channels of a network's ReLUs that never fire on a set of inputs.

A channel whose pre-activation is negative everywhere passes no signal, and its own
weights get no gradient; under training it returns only if the layers before it shift
its input.  IGNN's HR fusion (``fuse_hr``) ends in a ReLU
right before the output convolution, so every channel that dies there is one channel
less between the upsampled features and the image (docs/model_zoo.md, "Dead HR
channels").  Only ReLU *modules* are seen: the residual blocks' in-place
``torch.relu_`` (:class:`~ignn_pyg.nn.blocks.ResBlock`) and the VGG embedding's
functional ReLUs are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

__all__ = ["DeadChannelCounter", "dead_relu_channels"]


class DeadChannelCounter:
    """Forward hooks on every :class:`torch.nn.ReLU` of ``model`` that record which
    channels (dimension 1 of the output: ``C`` of ``[B, C, H, W]`` or of ``[N, C]``)
    were ever positive, over all forwards while the counter is open
    (``with DeadChannelCounter(model) as counter: ...``).

    A ReLU module called several times in one forward pools its calls.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.fired: dict[str, Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str) -> Callable[[nn.Module, tuple, Tensor], None]:
        def record(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            fired = (output.detach().transpose(0, 1).reshape(output.shape[1], -1) > 0).any(dim=1).cpu()
            seen = self.fired.get(name)
            if seen is not None and seen.numel() != fired.numel():
                raise ValueError(f"ReLU {name!r} gave {fired.numel()} channels after {seen.numel()} before")
            self.fired[name] = fired if seen is None else seen | fired

        return record

    def __enter__(self) -> DeadChannelCounter:
        for name, module in self.model.named_modules():
            if isinstance(module, nn.ReLU):
                self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def counts(self) -> dict[str, tuple[int, int]]:
        """``{ReLU module name: (channels that never fired, channels)}`` for every ReLU
        that ran, in module order."""
        return {name: (int((~fired).sum()), fired.numel()) for name, fired in self.fired.items()}


def dead_relu_channels(
    model: nn.Module, inputs: Iterable[Tensor], forward: Callable[[Tensor], Tensor] | None = None
) -> dict[str, tuple[int, int]]:
    """Run ``forward`` (default: ``model``) on every input without gradients and return
    :meth:`DeadChannelCounter.counts`: per ReLU of ``model``, the channels that were
    never positive on any input, and the channel count."""
    with DeadChannelCounter(model) as counter, torch.no_grad():
        for x in inputs:
            (forward or model)(x)
    return counter.counts()
