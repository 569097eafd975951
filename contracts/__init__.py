"""The facts every part of the product agrees on, each written once: the model's signature, the local
demo account, the replica port scheme, the version labels a roll-out moves and what counts as this
machine. Standard library only, so the gateway, the page, the load tests, the deploy scripts and the
TensorFlow side all import the same values.
"""
