"""``nn.functional``: the stateless forms of layers and losses."""

from __future__ import annotations

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
from ..ops.attention import scaled_dot_product_attention
from ..ops.bilinear import bilinear
from ..ops.conv import conv1d, conv2d, conv_transpose2d
from ..ops.dropout import dropout, dropout2d
from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.embedding import embedding, one_hot
from ..ops.fold import fold, unfold
from ..ops.linalg import linear
from ..ops.loss import cross_entropy, mse_loss, nll_loss
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
from ..ops.reduction import log_softmax, softmax
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
