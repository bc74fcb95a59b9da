"""``nn.functional``: the stateless forms of layers and losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach
from ..ops.activation import (
    celu,
    celu_,
    elu,
    elu_,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu,
    leaky_relu_,
    logsigmoid,
    mish,
    relu6,
    selu,
    selu_,
    silu,
    softplus,
    softsign,
    tanhshrink,
)
from ..ops.bilinear import bilinear
from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.linalg import linear
from ..ops.loss import cross_entropy, mse_loss, nll_loss
from ..ops.reduction import log_softmax, softmax

if TYPE_CHECKING:  # the names below, for type checkers and linters
    from ..ops.attention import scaled_dot_product_attention
    from ..ops.conv import conv1d, conv2d, conv_transpose2d
    from ..ops.dropout import dropout, dropout2d
    from ..ops.embedding import embedding, one_hot
    from ..ops.fold import fold, unfold
    from ..ops.loss_binary import binary_cross_entropy, binary_cross_entropy_with_logits
    from ..ops.loss_ctc import ctc_loss
    from ..ops.loss_embedding import (
        cosine_embedding_loss,
        multilabel_soft_margin_loss,
        triplet_margin_loss,
        triplet_margin_with_distance_loss,
    )
    from ..ops.loss_margin import (
        hinge_embedding_loss,
        margin_ranking_loss,
        soft_margin_loss,
    )
    from ..ops.loss_margin_multi import multi_margin_loss, multilabel_margin_loss
    from ..ops.loss_prob import gaussian_nll_loss, kl_div, poisson_nll_loss
    from ..ops.loss_regression import huber_loss, l1_loss, smooth_l1_loss
    from ..ops.normalization import (
        batch_norm,
        cosine_similarity,
        group_norm,
        instance_norm,
        layer_norm,
        normalize,
        pairwise_distance,
        rms_norm,
    )
    from ..ops.padding import pad
    from ..ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
    from ..ops.pooling import (
        adaptive_avg_pool2d,
        adaptive_max_pool2d,
        avg_pool1d,
        avg_pool2d,
        max_pool1d,
        max_pool2d,
    )
    from ..ops.resample import interpolate

__all__ = [
    "batch_norm",
    "cosine_similarity",
    "dropout",
    "dropout2d",
    "embedding",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "normalize",
    "one_hot",
    "pairwise_distance",
    "rms_norm",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "fold",
    "max_pool1d",
    "max_pool2d",
    "unfold",
    "celu",
    "celu_",
    "cross_entropy",
    "elu",
    "elu_",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "leaky_relu",
    "leaky_relu_",
    "logsigmoid",
    "mish",
    "relu6",
    "selu",
    "selu_",
    "silu",
    "softplus",
    "softsign",
    "tanhshrink",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "ctc_loss",
    "gaussian_nll_loss",
    "kl_div",
    "poisson_nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "l1_loss",
    "smooth_l1_loss",
    "cosine_embedding_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "pad",
    "relu",
    "sigmoid",
    "softmax",
    "scaled_dot_product_attention",
    "tanh",
    "bilinear",
    "interpolate",
    "pixel_shuffle",
    "pixel_unshuffle",
]


# The functions whose layers ``nn`` loads on first use load with them (from the
# same op modules): convolution, pooling, normalization, dropout, embedding,
# attention, resampling and all but the three main losses.
__getattr__, __dir__ = attach(
    __name__,
    {
        "scaled_dot_product_attention": "..ops.attention",
        "conv1d": "..ops.conv",
        "conv2d": "..ops.conv",
        "conv_transpose2d": "..ops.conv",
        "fold": "..ops.fold",
        "unfold": "..ops.fold",
        "ctc_loss": "..ops.loss_ctc",
        "cosine_embedding_loss": "..ops.loss_embedding",
        "multilabel_soft_margin_loss": "..ops.loss_embedding",
        "triplet_margin_loss": "..ops.loss_embedding",
        "triplet_margin_with_distance_loss": "..ops.loss_embedding",
        "hinge_embedding_loss": "..ops.loss_margin",
        "margin_ranking_loss": "..ops.loss_margin",
        "soft_margin_loss": "..ops.loss_margin",
        "multi_margin_loss": "..ops.loss_margin_multi",
        "multilabel_margin_loss": "..ops.loss_margin_multi",
        "gaussian_nll_loss": "..ops.loss_prob",
        "kl_div": "..ops.loss_prob",
        "poisson_nll_loss": "..ops.loss_prob",
        "pad": "..ops.padding",
        "pixel_shuffle": "..ops.pixel_shuffle",
        "pixel_unshuffle": "..ops.pixel_shuffle",
        "adaptive_avg_pool2d": "..ops.pooling",
        "adaptive_max_pool2d": "..ops.pooling",
        "avg_pool1d": "..ops.pooling",
        "avg_pool2d": "..ops.pooling",
        "max_pool1d": "..ops.pooling",
        "max_pool2d": "..ops.pooling",
        "interpolate": "..ops.resample",
        "dropout": "..ops.dropout",
        "dropout2d": "..ops.dropout",
        "embedding": "..ops.embedding",
        "one_hot": "..ops.embedding",
        "binary_cross_entropy": "..ops.loss_binary",
        "binary_cross_entropy_with_logits": "..ops.loss_binary",
        "huber_loss": "..ops.loss_regression",
        "l1_loss": "..ops.loss_regression",
        "smooth_l1_loss": "..ops.loss_regression",
        "batch_norm": "..ops.normalization",
        "cosine_similarity": "..ops.normalization",
        "group_norm": "..ops.normalization",
        "instance_norm": "..ops.normalization",
        "layer_norm": "..ops.normalization",
        "normalize": "..ops.normalization",
        "pairwise_distance": "..ops.normalization",
        "rms_norm": "..ops.normalization",
    },
)
