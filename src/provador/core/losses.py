"""Losses Keras lacks for integer labels."""

from __future__ import annotations

from keras import ops

from provador.base._keras import keras


@keras.saving.register_keras_serializable(package="provador")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing.

    Keras' sparse loss has no `label_smoothing`; this one one-hot encodes the
    integer labels inside the graph, so the data can stay uint8 class indices.
    """

    def __init__(
        self, label_smoothing: float = 0.1, num_classes: int = 10, name="smoothed_sparse_crossentropy", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes

    def call(self, y_true, y_pred):
        y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        return keras.losses.categorical_crossentropy(y_true, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "num_classes": self.num_classes}
