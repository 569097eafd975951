"""The models and weight keywords the exporter knows (no TensorFlow import: the CLI checks args fast)."""

MODELS = ("resnet50", "efficientnet-lite0", "tiny")
DEFAULT_WEIGHTS = {"resnet50": "imagenet", "efficientnet-lite0": "bundled", "tiny": "random"}
WEIGHT_KEYWORDS = frozenset({"imagenet", "random", "bundled"})
