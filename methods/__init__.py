"""Method plugins, one module per method; importing this package fills ``harness.api.METHODS``."""

from methods import (  # noqa: F401
    all_negative,
    amtl,
    cmtl,
    concept_bank_lr,
    coview_gap_linear,
    coview_majority,
    default_tl_hinge,
    default_tl_softmax,
    dmtl,
    dmtl_lc,
    ksvm,
    lr,
    lsvm,
    micronn,
    mlknn,
    mmdl_eg,
    mtn,
    nearest_class_mean,
    svm_concepts,
    two_sided_nn,
)
