"""Neural-network building blocks: ``Module``, layers, losses, ``functional``.

Layers are Modules that hold Parameters and call ops from ``plaingrad.ops`` in
``forward``; nothing here computes a gradient by itself. The layer of code below
(``ops``) never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach
from . import functional, init, utils
from .activation import (
    CELU,
    ELU,
    GELU,
    SELU,
    Flatten,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
    Tanhshrink,
    Unflatten,
)
from .containers import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from .linear import Bilinear, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # the names below, for type checkers and linters
    from .attention import MultiheadAttention
    from .conv import Conv1d, Conv2d, ConvTranspose2d, Fold, Unfold
    from .dropout import Dropout, Dropout2d
    from .loss_margin import (
        CosineEmbeddingLoss,
        HingeEmbeddingLoss,
        MarginRankingLoss,
        MultiLabelMarginLoss,
        MultiLabelSoftMarginLoss,
        MultiMarginLoss,
        SoftMarginLoss,
        TripletMarginLoss,
        TripletMarginWithDistanceLoss,
    )
    from .loss_more import BCELoss, BCEWithLogitsLoss, HuberLoss, L1Loss, SmoothL1Loss
    from .loss_prob import CTCLoss, GaussianNLLLoss, KLDivLoss, PoissonNLLLoss
    from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm
    from .pooling import (
        AdaptiveAvgPool2d,
        AdaptiveMaxPool2d,
        AvgPool1d,
        AvgPool2d,
        MaxPool1d,
        MaxPool2d,
    )
    from .rnn import GRU, LSTM, RNN, RNNBase
    from .rnn_cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
    from .sparse import Embedding
    from .transformer import (
        Transformer,
        TransformerDecoder,
        TransformerDecoderLayer,
        TransformerEncoder,
        TransformerEncoderLayer,
    )
    from .upsampling import (
        PixelShuffle,
        PixelUnshuffle,
        Upsample,
        UpsamplingBilinear2d,
        UpsamplingNearest2d,
    )

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Dropout",
    "Dropout2d",
    "Embedding",
    "GroupNorm",
    "LayerNorm",
    "RMSNorm",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "MultiheadAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "ParameterDict",
    "ParameterList",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "Fold",
    "MaxPool1d",
    "MaxPool2d",
    "Unfold",
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "Mish",
    "ReLU6",
    "SiLU",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "CrossEntropyLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "HuberLoss",
    "L1Loss",
    "SmoothL1Loss",
    "CosineEmbeddingLoss",
    "HingeEmbeddingLoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "Flatten",
    "Identity",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "CTCLoss",
    "GaussianNLLLoss",
    "KLDivLoss",
    "PoissonNLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
    "utils",
    "Bilinear",
    "PixelShuffle",
    "PixelUnshuffle",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]


# Beyond Module, Parameter, the containers, the activations, Linear and the
# three main losses, each layer loads when it is first named (``nn.Conv2d``,
# ``from plaingrad.nn import LSTM``): loaded at once, they add about 15 ms to
# ``import plaingrad``.
__getattr__, __dir__ = attach(
    __name__,
    {
        "MultiheadAttention": ".attention",
        "Conv1d": ".conv",
        "Conv2d": ".conv",
        "ConvTranspose2d": ".conv",
        "Fold": ".conv",
        "Unfold": ".conv",
        "CosineEmbeddingLoss": ".loss_margin",
        "HingeEmbeddingLoss": ".loss_margin",
        "MarginRankingLoss": ".loss_margin",
        "MultiLabelMarginLoss": ".loss_margin",
        "MultiLabelSoftMarginLoss": ".loss_margin",
        "MultiMarginLoss": ".loss_margin",
        "SoftMarginLoss": ".loss_margin",
        "TripletMarginLoss": ".loss_margin",
        "TripletMarginWithDistanceLoss": ".loss_margin",
        "CTCLoss": ".loss_prob",
        "GaussianNLLLoss": ".loss_prob",
        "KLDivLoss": ".loss_prob",
        "PoissonNLLLoss": ".loss_prob",
        "AdaptiveAvgPool2d": ".pooling",
        "AdaptiveMaxPool2d": ".pooling",
        "AvgPool1d": ".pooling",
        "AvgPool2d": ".pooling",
        "MaxPool1d": ".pooling",
        "MaxPool2d": ".pooling",
        "GRU": ".rnn",
        "LSTM": ".rnn",
        "RNN": ".rnn",
        "RNNBase": ".rnn",
        "GRUCell": ".rnn_cells",
        "LSTMCell": ".rnn_cells",
        "RNNCell": ".rnn_cells",
        "RNNCellBase": ".rnn_cells",
        "Transformer": ".transformer",
        "TransformerDecoder": ".transformer",
        "TransformerDecoderLayer": ".transformer",
        "TransformerEncoder": ".transformer",
        "TransformerEncoderLayer": ".transformer",
        "PixelShuffle": ".upsampling",
        "PixelUnshuffle": ".upsampling",
        "Upsample": ".upsampling",
        "UpsamplingBilinear2d": ".upsampling",
        "UpsamplingNearest2d": ".upsampling",
        "Dropout": ".dropout",
        "Dropout2d": ".dropout",
        "BatchNorm1d": ".normalization",
        "BatchNorm2d": ".normalization",
        "GroupNorm": ".normalization",
        "LayerNorm": ".normalization",
        "RMSNorm": ".normalization",
        "Embedding": ".sparse",
        "parallel": ".parallel",
        "BCELoss": ".loss_more",
        "BCEWithLogitsLoss": ".loss_more",
        "HuberLoss": ".loss_more",
        "L1Loss": ".loss_more",
        "SmoothL1Loss": ".loss_more",
    },
)
