"""The private descriptor pool of the generated messages (see tfs_protos/build.py).

The official modules register the same full names (`tensorflow.serving.PredictRequest`, ...) in protobuf's
default pool; a pool of our own lets both live in one process.
"""

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _well_known in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_well_known.DESCRIPTOR.serialized_pb)
