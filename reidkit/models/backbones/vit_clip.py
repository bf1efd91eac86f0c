"""ViT-B/16 in the CLIP image-encoder layout, for CLIP-ReID checkpoints (Li et al., AAAI 2023).

Parameter names are CLIP's (``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks.N.{ln_1,attn.in_proj_weight,attn.out_proj,ln_2,mlp.c_fc,mlp.c_proj}``,
``ln_post``, ``proj``), so a CLIP or CLIP-ReID state dict loads after stripping its prefix. The patch
grid follows the ReID input (256x128 with stride 16 -> 16x8); position embeddings learned on another
grid are resized by bicubic interpolation (:func:`resize_position_embedding`).

``forward(x)`` returns ``cat(cls, cls @ proj)`` (768 + 512 = 1280-d), the feature CLIP-ReID evaluates
with; a BNNeck over it equals CLIP-ReID's two separate necks (BatchNorm is per channel).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.models.registry import BACKBONES

# CLIP-ReID trains and evaluates with x/255 normalised by mean 0.5, std 0.5 (not CLIP's own constants).
CLIP_REID_MEAN = (0.5, 0.5, 0.5)
CLIP_REID_STD = (0.5, 0.5, 0.5)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameter names (as in CLIP)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, W)
        b, n, w = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(w // self.heads))
        out = attn.softmax(-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, w))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*(ResidualAttentionBlock(width, heads) for _ in range(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


def resize_position_embedding(
    pe: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]
) -> torch.Tensor:
    """(1 + gh*gw, W) embeddings -> (1 + nh*nw, W): class token kept, grid resized bicubically."""
    cls, grid = pe[:1], pe[1:]
    if old_grid == new_grid:
        return pe
    grid = grid.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1).to(pe.dtype)
    return torch.cat([cls, grid])


def infer_grid(n_patches: int, like: tuple[int, int]) -> tuple[int, int]:
    """The (rows, cols) of a stored grid: square if it can be (CLIP's 14x14), else the factorisation
    closest in aspect ratio to ``like`` (ReID checkpoints trained at another size, e.g. 21x10)."""
    side = round(math.sqrt(n_patches))
    if side * side == n_patches:
        return side, side
    pairs = [(r, n_patches // r) for r in range(1, n_patches + 1) if n_patches % r == 0]
    target = math.log(like[0] / like[1])
    return min(pairs, key=lambda rc: abs(math.log(rc[0] / rc[1]) - target))


class VisionTransformer(nn.Module):
    input_mean = CLIP_REID_MEAN
    input_std = CLIP_REID_STD

    def __init__(
        self,
        input_size: tuple[int, int] = (256, 128),
        patch: int = 16,
        stride: int = 16,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        output_dim: int = 512,
        output: str = "both",  # both | cls | proj
    ) -> None:
        super().__init__()
        height, width_px = input_size
        self.grid = ((height - patch) // stride + 1, (width_px - patch) // stride + 1)
        self.conv1 = nn.Conv2d(3, width, patch, stride=stride, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(1 + self.grid[0] * self.grid[1], width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))
        self.output = output
        self.feature_dim = {"both": width + output_dim, "cls": width, "proj": output_dim}[output]
        self._register_load_state_dict_pre_hook(self._resize_on_load)

    def _resize_on_load(self, state: dict, prefix: str, *args: object) -> None:
        # Checkpoints trained at another input size (or CLIP's 224x224) get their grid resized.
        key = prefix + "positional_embedding"
        pe = state.get(key)
        if pe is not None and pe.shape != self.positional_embedding.shape:
            state[key] = resize_position_embedding(pe, infer_grid(pe.shape[0] - 1, self.grid), self.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.conv1(x).flatten(2).transpose(1, 2)  # (B, gh*gw, W)
        cls = self.class_embedding.to(tokens.dtype).expand(tokens.shape[0], 1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.positional_embedding.to(tokens.dtype)
        tokens = self.transformer(self.ln_pre(tokens))
        cls_out = self.ln_post(tokens[:, 0])
        if self.output == "cls":
            return cls_out
        projected = cls_out @ self.proj
        return projected if self.output == "proj" else torch.cat([cls_out, projected], dim=1)


@BACKBONES.register("vit_b16_clip")
def vit_b16_clip(
    last_stride: int = 0,
    pooling: nn.Module | None = None,
    input_size: tuple[int, int] = (256, 128),
    **overrides: object,
) -> VisionTransformer:
    """CLIP ViT-B/16 image encoder (16x8 patches on 256x128); the class token replaces pooling."""
    return VisionTransformer(input_size=input_size, **overrides)  # type: ignore[arg-type]
