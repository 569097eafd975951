"""In-graph image decoding and resizing (runs inside the SavedModel, so TF Serving can run it too).

Everything here is plain TensorFlow ops: no ``tf.py_function``, so a stock ``tensorflow/serving`` binary
serves the exported model.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

Resize = Callable[[tf.Tensor], tf.Tensor]

# Pillow's decompression-bomb threshold (the original project decoded with Pillow): a few KB of PNG can
# declare billions of pixels, so the header is checked before anything is decoded.
MAX_PIXELS = 89_478_485
DECODE_ERROR = (
    "image_bytes[{}] is not a decodable JPEG, PNG, GIF or BMP image of at most "
    f"{MAX_PIXELS} pixels (undecodable elements: {{}})"
)


def _header_uint(data: tf.Tensor, offset: int, length: int, little_endian: bool) -> tf.Tensor:
    """An unsigned integer read from the file header (fails if the file is too short)."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, length), tf.uint8), tf.int64)
    if little_endian:
        raw = tf.reverse(raw, [0])
    return tf.reduce_sum(raw * tf.constant([256 ** (length - 1 - i) for i in range(length)], tf.int64))


def _bmp_dimension(data: tf.Tensor, offset: int) -> tf.Tensor:
    value = _header_uint(data, offset, 4, little_endian=True)
    return tf.abs(tf.where(value >= 2**31, value - 2**32, value))  # signed: negative height = top-down


def declared_pixels(image_bytes: tf.Tensor) -> tf.Tensor:
    """Width x height as the header declares it, without decoding (0 for an unknown format)."""
    jpeg = tf.io.is_jpeg(image_bytes)
    png = tf.equal(tf.strings.substr(image_bytes, 0, 4, unit="BYTE"), b"\x89PNG")
    gif = tf.equal(tf.strings.substr(image_bytes, 0, 3, unit="BYTE"), b"GIF")
    bmp = tf.equal(tf.strings.substr(image_bytes, 0, 2, unit="BYTE"), b"BM")
    return tf.case(
        [
            (jpeg, lambda: tf.reduce_prod(tf.image.extract_jpeg_shape(image_bytes, tf.int64)[:2])),
            (png, lambda: _header_uint(image_bytes, 16, 4, False) * _header_uint(image_bytes, 20, 4, False)),
            (gif, lambda: _header_uint(image_bytes, 6, 2, True) * _header_uint(image_bytes, 8, 2, True)),
            (bmp, lambda: _bmp_dimension(image_bytes, 18) * _bmp_dimension(image_bytes, 22)),
        ],
        default=lambda: tf.constant(0, tf.int64),
        exclusive=True,
    )


def decode(image_bytes: tf.Tensor) -> tf.Tensor:
    """One encoded image -> uint8 [height, width, 3] RGB (the first frame of an animated GIF).

    JPEGs use libjpeg's accurate integer IDCT, which Pillow uses too; TensorFlow's default (INTEGER_FAST)
    differs from Pillow by up to 5 levels per pixel.
    """
    too_big = tf.debugging.assert_less_equal(declared_pixels(image_bytes), tf.constant(MAX_PIXELS, tf.int64))
    with tf.control_dependencies([too_big]):
        image_bytes = tf.identity(image_bytes)
    image = tf.cond(
        tf.io.is_jpeg(image_bytes),
        lambda: tf.io.decode_jpeg(image_bytes, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(image_bytes, channels=3, expand_animations=False, dtype=tf.uint8),
    )
    image.set_shape([None, None, 3])
    return image


_UNROLL = 16  # additions per loop iteration: the loop overhead, not the arithmetic, dominates


def _pil_nearest_indices(sizes: tf.Tensor, out: int) -> tf.Tensor:
    """Source index of each output pixel, [out, len(sizes)], exactly as Pillow's NEAREST resize picks it.

    Pillow (ImagingScaleAffine) walks the output with a running double ``pos = scale / 2; pos += scale`` and
    truncates. ``floor((i + 0.5) * scale)`` and ``tf.image.resize(method="nearest")`` differ from it for some
    sizes (e.g. 320 -> 224), so the running sum is reproduced addition by addition (a cumsum may reorder).
    The divisor goes through ``divide_no_nan`` because Grappler rewrites a division by a constant into a
    multiplication by its reciprocal, which rounds differently.
    """
    scale = tf.math.divide_no_nan(tf.cast(sizes, tf.float64), tf.constant(out, tf.float64))
    start = scale * 0.5

    def step(previous: tf.Tensor, _: tf.Tensor) -> tf.Tensor:
        position, positions = previous[-1], []
        for _ in range(_UNROLL):
            position = position + scale
            positions.append(position)
        return tf.stack(positions)

    steps = tf.range((out - 1 + _UNROLL - 1) // _UNROLL)
    chunks = tf.scan(step, steps, initializer=tf.stack([start] * _UNROLL))
    positions = tf.concat([start[None], tf.reshape(chunks, [-1, tf.size(sizes)])], axis=0)[:out]
    return tf.minimum(tf.cast(tf.floor(positions), tf.int32), tf.cast(sizes, tf.int32) - 1)


def pil_nearest_resize(size: int) -> Resize:
    """Resize like ``keras.utils.load_img(path, target_size=(size, size))`` (Pillow NEAREST, no crop).

    This is how the original project fed ResNet50, so real weights reproduce its scores (``Eskimo_dog``
    0.9346 on the reference photo).
    """

    def resize(image: tf.Tensor) -> tf.Tensor:
        indices = _pil_nearest_indices(tf.shape(image)[:2], size)
        resized = tf.gather(tf.gather(image, indices[:, 0], axis=0), indices[:, 1], axis=1)
        return tf.ensure_shape(tf.cast(resized, tf.float32), [size, size, 3])

    return resize


def center_crop_bicubic_resize(size: int, crop_padding: int = 32) -> Resize:
    """EfficientNet's evaluation crop: the central ``size / (size + 32)`` of the shorter side, bicubic.

    Mirrors ``_decode_and_center_crop`` of tensorflow/tpu's efficientnet ``preprocessing.py``.
    """

    def resize(image: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        fraction = size / (size + crop_padding)
        crop = tf.cast(fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
        crop = tf.maximum(crop, 1)
        top = (height - crop + 1) // 2
        left = (width - crop + 1) // 2
        cropped = image[top : top + crop, left : left + crop]
        resized = tf.image.resize(tf.cast(cropped, tf.float32), [size, size], method="bicubic")
        return tf.ensure_shape(resized, [size, size, 3])

    return resize


def decode_batch(image_bytes: tf.Tensor, resize: Resize, size: int) -> tf.Tensor:
    """[batch] encoded images -> float32 [batch, size, size, 3] pixels in [0, 255] (bicubic may overshoot).

    Each element is decoded inside a ``tf.data`` pipeline with ``ignore_errors`` so that a bad element does
    not abort with a message that hides which one it was: the survivors are counted, and if any is missing an
    assertion fails naming the index (TF Serving and the embedded server answer INVALID_ARGUMENT).
    """
    count = tf.shape(image_bytes)[0]
    indices = tf.range(count)
    dataset = tf.data.Dataset.from_tensor_slices((indices, image_bytes))
    dataset = dataset.map(lambda index, data: (index, resize(decode(data))))
    dataset = dataset.ignore_errors().batch(tf.cast(tf.maximum(count, 1), tf.int64))
    empty = tf.data.Dataset.from_tensors((tf.zeros([0], tf.int32), tf.zeros([0, size, size, 3], tf.float32)))
    decoded_indices, images = dataset.concatenate(empty).take(1).get_single_element()

    decoded = tf.scatter_nd(decoded_indices[:, None], tf.ones_like(decoded_indices), [count])
    bad = tf.reshape(tf.where(tf.equal(decoded, 0)), [-1])
    first_bad = tf.concat([bad, [-1]], axis=0)[0]
    message = tf.strings.format(DECODE_ERROR, (first_bad, bad), summarize=16)
    check = tf.debugging.Assert(tf.equal(tf.size(bad), 0), [message], summarize=1)
    with tf.control_dependencies([check]):
        return tf.identity(images)
