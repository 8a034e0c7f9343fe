"""Dataset plugins, one module per data-set family; importing this package fills ``harness.api.DATASETS``."""

from datasets import (
    coview2019,  # noqa: F401
    iaprtc12,  # noqa: F401
    imagenet_concepts,  # noqa: F401
    natural_scenes,  # noqa: F401
    nuswide,  # noqa: F401
    scene,  # noqa: F401
    trecvid2013,  # noqa: F401
    trecvid_avs2016,  # noqa: F401
    ucf101,  # noqa: F401
)
