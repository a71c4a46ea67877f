"""EDSR: the IGNN backbone without the graph block, as the baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

from ignn_pyg.nn.blocks import MeanShift, ResBlock, Upsampler, check_residual, conv3x3, output_residual


@dataclass(frozen=True)
class EDSRConfig:
    """Hyper-parameters that define an :class:`EDSR`."""

    scale: int
    n_feats: int = 256
    n_resblocks: int = 32
    res_scale: float = 0.1
    rgb_range: float = 255.0
    residual: str = "none"


class EDSR(nn.Module):
    r"""Enhanced deep residual network (Lim et al., 2017) in IGNN's conventions.

    .. math::
        y = \mathrm{tail}(\mathrm{up}(\mathrm{body}(h) + h)), \qquad h = \mathrm{head}(x - \mu)

    then :math:`+\mu` (or, with ``residual="bicubic"``, plus the bicubic upsampling of
    :math:`x` instead); ``body`` is ``n_resblocks`` residual blocks and a 3x3 conv.

    Shapes: ``[B, 3, H, W]`` in ``[0, 255]`` ``-> [B, 3, S H, S W]``.
    """

    def __init__(
        self,
        scale: int,
        n_feats: int = 256,
        n_resblocks: int = 32,
        res_scale: float = 0.1,
        rgb_range: float = 255.0,
        residual: str = "none",
    ) -> None:
        super().__init__()
        self.config = EDSRConfig(scale, n_feats, n_resblocks, res_scale, rgb_range, check_residual(residual))
        self.input_shift = MeanShift(rgb_range, sign=-1)
        self.output_shift = MeanShift(rgb_range, sign=+1)
        self.head = conv3x3(3, n_feats)
        self.body = nn.Sequential(
            *[ResBlock(n_feats, res_scale=res_scale) for _ in range(n_resblocks)], conv3x3(n_feats, n_feats)
        )
        self.upsample = Upsampler(scale, n_feats)
        self.tail = conv3x3(n_feats, 3)

    @property
    def scale(self) -> int:
        """Output scale ``S``."""
        return self.config.scale

    def forward(self, lr: Tensor, lr_down: Tensor | None = None) -> Tensor:
        """Super-resolve ``lr``; ``lr_down`` is accepted and ignored, so EDSR and IGNN
        share one calling convention."""
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected lr of shape [B, 3, H, W], got {tuple(lr.shape)}")
        x = self.head(self.input_shift(lr))
        x = self.tail(self.upsample(self.body(x) + x))
        base = output_residual(self.config.residual, lr, self.scale, self.config.rgb_range)
        return self.output_shift(x) if base is None else base + x

    def config_dict(self) -> dict:
        """Constructor arguments, for checkpoints that rebuild the model from the file alone."""
        return {"arch": "edsr", **asdict(self.config)}
