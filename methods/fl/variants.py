"""The federated algorithms of Paper IV as one configuration each (spec ``kws_fl.md`` §5.5).

A variant fixes three things: the client's training precision (``qat``: none, FP8 with
round-to-nearest, FP8 with stochastic rounding), how models travel (``comm``: FP32, FP8 with
round-to-nearest — "BQ", biased — or FP8 with stochastic rounding — "UQ", unbiased) and
whether the server runs SERVEROPTIMIZE after averaging (``server_optimize``: the "+" of UQ+).

=====================  ======  ======  ===============  =================================
variant                QAT     comm    SERVEROPTIMIZE   Paper IV
=====================  ======  ======  ===============  =================================
fedavg                 none    fp32    no               FP32 FedAvg (every table)
fp8-fedavg-bq          det     det     no               Table 3 "det. CQ", Figure 4 BQ
fp8-fedavg-uq          det     rand    no               Table 1 UQ, Table 3 "rand. CQ"
fp8-fedavg-uq-plus     det     rand    yes              Table 1 UQ+
fp8-qat-det            det     fp32    no               Table 2 "det. QAT"
fp8-qat-rand           rand    fp32    no               Table 2 "rand. QAT"
=====================  ======  ======  ===============  =================================
"""

from __future__ import annotations

from dataclasses import dataclass

QAT_MODES = ("none", "det", "rand")
COMM_MODES = ("fp32", "det", "rand")


@dataclass(frozen=True)
class FlVariant:
    name: str
    qat: str
    comm: str
    server_optimize: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.qat not in QAT_MODES:
            raise ValueError(f"qat must be one of {QAT_MODES}, got {self.qat!r}")
        if self.comm not in COMM_MODES:
            raise ValueError(f"comm must be one of {COMM_MODES}, got {self.comm!r}")
        if self.comm != "fp32" and self.qat == "none":
            raise ValueError("FP8 communication needs FP8 clients (the weight ranges travel "
                             "with the codes)")
        if self.server_optimize and self.comm == "fp32":
            raise ValueError("SERVEROPTIMIZE fits the server model to FP8 client models")

    @property
    def fp8_comm(self) -> bool:
        return self.comm != "fp32"


VARIANTS = {v.name: v for v in (
    FlVariant("fedavg", "none", "fp32", label="FP32 FedAvg"),
    FlVariant("fp8-fedavg-bq", "det", "det", label="FP8 FedAvg, deterministic communication (BQ)"),
    FlVariant("fp8-fedavg-uq", "det", "rand", label="FP8 FedAvg-UQ"),
    FlVariant("fp8-fedavg-uq-plus", "det", "rand", True, label="FP8 FedAvg-UQ+"),
    FlVariant("fp8-qat-det", "det", "fp32", label="FP8 QAT (round-to-nearest), FP32 communication"),
    FlVariant("fp8-qat-rand", "rand", "fp32", label="FP8 QAT (stochastic), FP32 communication"),
)}
